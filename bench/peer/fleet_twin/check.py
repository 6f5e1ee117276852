"""Start a batch on the twin (or any fleet: the workflow is the same) and print its summary JSON;
optionally compare it with another fleet's summary image by image.

    cd bench/peer
    ../.venv/bin/python -m fleet_twin.check --request request.json            # a full AutomationRequest
    ../.venv/bin/python -m fleet_twin.check --batch-id b1 --kind navad \\
        s3://fleet-inputs/flights/a.jpg s3://fleet-inputs/flights/b.jpg        # objects, default settings
    ../.venv/bin/python -m fleet_twin.check --batch-id b2 --prefix s3://fleet-inputs/flights/
    ../.venv/bin/python -m fleet_twin.check ... --compare rust-summary.json    # exit 1 on a mismatch

TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TASK_QUEUE_PREFIX are read as the workers read them
(the batch starts on `${TASK_QUEUE_PREFIX}orchestrator` as workflow `automation-<batch id>`).
`--compare` takes an AutomationSummary JSON (or a summary.json document) and checks, per image,
the status and the score (within --tolerance, 1e-6).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from temporalio.client import Client

from . import contracts as c


def parse_uri(text: str) -> tuple[str, str]:
    if not text.startswith("s3://"):
        sys.exit(f"{text}: expected s3://bucket/key")
    bucket, _, key = text[5:].partition("/")
    return bucket, key


def build_request(args) -> dict:
    if args.request:
        with open(args.request) as f:
            return json.load(f)
    if args.prefix:
        bucket, prefix = parse_uri(args.prefix)
        source = {"prefix": {"location": {"bucket": bucket, "prefix": prefix}, "kind": args.kind}}
    else:
        source = {"objects": [{"object": c.obj(*parse_uri(u)), "kind": args.kind} for u in args.objects]}
    settings = c.merged(c.DEFAULT_SETTINGS, {})
    if args.images_per_run:
        settings["images_per_run"] = args.images_per_run
    if args.max_concurrent_images:
        settings["max_concurrent_images"] = args.max_concurrent_images
    return {"batch_id": args.batch_id, "source": source, "output_bucket": args.output_bucket, "settings": settings, "carried": None}


def compare(ours: dict, theirs: dict, tolerance: float) -> list[str]:
    """Per image (matched by bucket/key): same status, scores within `tolerance`."""
    problems = []
    theirs_by_key = {(i["object"]["bucket"], i["object"]["key"]): i for i in theirs["images"]}
    for image in ours["images"]:
        key = (image["object"]["bucket"], image["object"]["key"])
        other = theirs_by_key.pop(key, None)
        name = f"s3://{key[0]}/{key[1]}"
        if other is None:
            problems.append(f"{name}: missing from the other summary")
            continue
        if image["status"] != other["status"]:
            problems.append(f"{name}: status {image['status']} here, {other['status']} there ({image.get('error') or other.get('error')})")
        a, b = image.get("score"), other.get("score")
        if (a is None) != (b is None) or (a is not None and abs(a - b) > tolerance):
            problems.append(f"{name}: score {a!r} here, {b!r} there")
    problems.extend(f"s3://{k[0]}/{k[1]}: missing here" for k in theirs_by_key)
    return problems


async def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet_twin.check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("objects", nargs="*", help="s3://bucket/key of each image")
    parser.add_argument("--request", help="an AutomationRequest JSON file (overrides the other batch options)")
    parser.add_argument("--prefix", help="s3://bucket/prefix/: every image under it")
    parser.add_argument("--kind", choices=[c.NAVAD, c.SATELLITE], help="kind of every image (default: detected)")
    parser.add_argument("--batch-id", default="twin-check")
    parser.add_argument("--output-bucket", default="fleet-outputs")
    parser.add_argument("--images-per-run", type=int)
    parser.add_argument("--max-concurrent-images", type=int)
    parser.add_argument("--compare", help="another fleet's AutomationSummary JSON to compare with")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args()
    if not (args.request or args.prefix or args.objects):
        parser.error("give images, --prefix or --request")

    request = build_request(args)
    address = (os.environ.get("TEMPORAL_ADDRESS") or "localhost:7233").removeprefix("http://")
    client = await Client.connect(address, namespace=os.environ.get("TEMPORAL_NAMESPACE") or "default")
    queue = (os.environ.get("TASK_QUEUE_PREFIX") or "") + c.ORCHESTRATOR
    summary = await client.execute_workflow(
        c.AUTOMATION_PIPELINE, request, id=f"automation-{request['batch_id']}", task_queue=queue, result_type=dict
    )
    print(json.dumps(summary, indent=2))
    if args.compare:
        with open(args.compare) as f:
            problems = compare(summary, json.load(f), args.tolerance)
        for line in problems:
            print(f"MISMATCH {line}", file=sys.stderr)
        print(f"compared {len(summary['images'])} images: {len(problems)} mismatches", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
