"""The Pillow + NumPy peer of the image analysis kernel benchmark: the formulas of
workers/accuracy-processor/src/metrics.rs, written the way a Python worker would write them.

- sharpness: population variance of the 3x3 Laplacian `0 1 0 / 1 -4 1 / 0 1 0` over the
  interior pixels (those with all 8 neighbours);
- exposure: mean luminance over all pixels, shares of pixels at 0 and at 255;
- noise: Immerkaer (1996), sigma = sqrt(pi/2) / (6 (W-2) (H-2)) * sum |I * N| over the interior,
  N = `1 -2 1 / -2 4 -2 / 1 -2 1`.

Usage: metrics.py MANIFEST.json REPEATS. The manifest is a JSON list of 8-bit grayscale PNG
paths. For every tile, the best of REPEATS runs of (a) decoding the PNG into an array and (b)
computing the metrics on it is timed; the result is one JSON document on stdout.
"""

import json
import math
import sys
import time

import numpy as np
import PIL
from PIL import Image


def load(path: str) -> np.ndarray:
    with Image.open(path) as image:
        if image.mode != "L":
            image = image.convert("L")
        return np.asarray(image)


def measure(pixels: np.ndarray) -> dict:
    # int32: the Laplacian spans -1020..1020 and Immerkaer's convolution -2040..2040.
    a = pixels.astype(np.int32)
    height, width = a.shape
    centre = a[1:-1, 1:-1]
    up, down = a[:-2, 1:-1], a[2:, 1:-1]
    left, right = a[1:-1, :-2], a[1:-1, 2:]
    edges = up + down + left + right
    laplacian = edges - 4 * centre
    corners = a[:-2, :-2] + a[:-2, 2:] + a[2:, :-2] + a[2:, 2:]
    immerkaer = corners - 2 * edges + 4 * centre
    interior = (width - 2) * (height - 2)
    total = width * height
    return {
        "laplacian_variance": float(laplacian.var()),
        "mean_luminance": float(pixels.mean(dtype=np.float64)),
        "shadow_clipped_fraction": int(np.count_nonzero(pixels == 0)) / total,
        "highlight_clipped_fraction": int(np.count_nonzero(pixels == 255)) / total,
        "noise_sigma": math.sqrt(math.pi / 2) * int(np.abs(immerkaer).sum(dtype=np.int64)) / (6 * interior),
    }


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as manifest:
        paths = json.load(manifest)
    repeats = max(1, int(sys.argv[2]))
    tiles = []
    for path in paths:
        best_total = best_metrics = math.inf
        result = None
        for _ in range(repeats):
            started = time.perf_counter()
            pixels = load(path)
            decoded = time.perf_counter()
            result = measure(pixels)
            done = time.perf_counter()
            best_total = min(best_total, done - started)
            best_metrics = min(best_metrics, done - decoded)
        height, width = pixels.shape
        tiles.append(
            {
                "path": path,
                "width": width,
                "height": height,
                "metrics": result,
                "metrics_seconds": best_metrics,
                "decode_and_metrics_seconds": best_total,
            }
        )
    json.dump({"numpy": np.__version__, "pillow": PIL.__version__, "tiles": tiles}, sys.stdout)


if __name__ == "__main__":
    main()
