"""One worker of the twin: `python -m fleet_twin --role ROLE` (run from bench/peer).

ROLE is one of orchestrator, ingestion, accuracy-dispatcher, accuracy-processor,
geolocalization; the worker polls `${TASK_QUEUE_PREFIX}ROLE`. Settings from the environment:
TEMPORAL_ADDRESS (host:port, default localhost:7233), TEMPORAL_NAMESPACE (default), TASK_QUEUE_PREFIX
(empty), S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (us-east-1), LOG_LEVEL
(INFO). Worker options are the SDK's defaults; sync activities run in a thread pool of
max(4, cpu count) threads. Prints `fleet_twin ROLE polling QUEUE` on stderr once polling, and
exits 0 after a graceful shutdown on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from . import contracts as c
from .workflows import WORKFLOWS


def activities_of(role: str) -> list:
    """The role's activities (imported per role: a worker loads only the libraries it uses)."""
    if role == c.ORCHESTRATOR:
        from . import orchestrator

        return [orchestrator.list_batch_page, orchestrator.write_batch_summary]
    if role == c.INGESTION:
        from . import ingestion

        return [ingestion.validate_image]
    if role == c.ACCURACY_DISPATCHER:
        from . import accuracy

        return [accuracy.split_tiles, accuracy.write_accuracy_report]
    if role == c.ACCURACY_PROCESSOR:
        from . import accuracy

        return [accuracy.compute_tile_metrics]
    from . import geo

    return [geo.compute_footprint, geo.detect_image_kind]


async def connect() -> Client:
    """Connects, retrying for TEMPORAL_CONNECT_TIMEOUT_SECS (60) while the server comes up."""
    address = os.environ.get("TEMPORAL_ADDRESS") or "localhost:7233"
    for scheme in ("http://", "https://"):
        address = address.removeprefix(scheme)
    namespace = os.environ.get("TEMPORAL_NAMESPACE") or "default"
    deadline = time.monotonic() + float(os.environ.get("TEMPORAL_CONNECT_TIMEOUT_SECS") or 60)
    while True:
        try:
            return await Client.connect(address.rstrip("/"), namespace=namespace)
        except Exception:  # noqa: BLE001 - the SDK reports a refused connection as RuntimeError
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fleet_twin", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", required=True, choices=c.ROLES)
    role = parser.parse_args().role
    logging.basicConfig(
        level=(os.environ.get("LOG_LEVEL") or "INFO").upper(),
        format=f"%(asctime)s %(levelname)s fleet_twin[{role}] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    queue = (os.environ.get("TASK_QUEUE_PREFIX") or "") + role
    activities = activities_of(role)
    client = await connect()
    with ThreadPoolExecutor(max_workers=max(4, os.cpu_count() or 1), thread_name_prefix=f"{role}-activity") as executor:
        worker = Worker(client, task_queue=queue, workflows=WORKFLOWS[role], activities=activities, activity_executor=executor)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            print(f"fleet_twin {role} polling {queue}", file=sys.stderr, flush=True)
            await stop.wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as error:  # a start-up failure: one clear line
        print(f"fleet_twin: {error}", file=sys.stderr)
        sys.exit(1)
