"""The Python peer of the orchestration benchmark: the same trivial workflow as the Rust worker
in bench/src/orchestration.rs, with the same pinned names, so one Rust starter drives both.

`BenchChain(n)` runs the activity `AddOne` three times in sequence and returns n + 3.

The worker keeps the SDK's defaults where the Rust worker keeps its own (sandboxed workflow
runner, 5 pollers per task type, sticky cache of 1000) and sets the same slot counts (100
workflow tasks, 100 activities). It prints one line, `ready`, once the worker is built and
polling starts, then runs until SIGTERM or SIGINT.
"""

import argparse
import asyncio
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

WORKFLOW_NAME = "BenchChain"
ACTIVITY_NAME = "AddOne"
ACTIVITIES_PER_WORKFLOW = 3


@activity.defn(name=ACTIVITY_NAME)
async def add_one(value: int) -> int:
    return value + 1


@workflow.defn(name=WORKFLOW_NAME)
class BenchChain:
    @workflow.run
    async def run(self, value: int) -> int:
        for _ in range(ACTIVITIES_PER_WORKFLOW):
            value = await workflow.execute_activity(
                add_one, value, start_to_close_timeout=timedelta(seconds=30)
            )
        return value


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True, help="host:port of the Temporal front end")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()

    client = await Client.connect(args.address, namespace=args.namespace)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=[BenchChain],
        activities=[add_one],
        max_concurrent_workflow_tasks=100,
        max_concurrent_activities=100,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with worker:
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as error:  # a start-up failure: one clear line for the harness
        print(f"orchestration_worker.py: {error}", file=sys.stderr)
        sys.exit(1)
