"""The PySceneDetect peer of the scene detection benchmark: `scenedetect.detect(path,
ContentDetector())` as its users call it (threshold 27, min_scene_len 15 frames, the OpenCV
backend, frames scaled down to about 256 px wide before they are compared).

Usage: scenes.py MANIFEST.json REPEATS. The manifest is a JSON list of video paths. For each,
the best of REPEATS runs of `detect` is timed (the interpreter's start and the imports are not);
the result is one JSON document on stdout: the versions, and per clip the cut times (when each
new scene starts, seconds) and the best time.
"""

import json
import sys
import time

import cv2
import scenedetect
from scenedetect import ContentDetector, detect


def main() -> None:
    manifest, repeats = sys.argv[1], max(1, int(sys.argv[2]))
    with open(manifest) as f:
        paths = json.load(f)
    clips = []
    for path in paths:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            scenes = detect(path, ContentDetector())
            best = min(best, time.perf_counter() - started)
        # Each scene after the first starts at a cut.
        cuts = [start.seconds for start, _end in scenes[1:]]
        clips.append({"path": path, "cuts": cuts, "seconds": best})
    json.dump({"scenedetect": scenedetect.__version__, "opencv": cv2.__version__, "clips": clips}, sys.stdout)


if __name__ == "__main__":
    main()
