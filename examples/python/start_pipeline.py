#!/usr/bin/env python3
"""Start one of the fleet's workflows from Python, follow its progress, print its result.

    python3 examples/python/start_pipeline.py ChecksumObject \
        '{"object": {"bucket": "fleet-inputs", "key": "uploads/up1/a.jpg"}}'

    python3 examples/python/start_pipeline.py AutomationPipeline @batch.json --address temporal:7233

The input is the workflow's JSON input, as text or as @file (@- reads standard input); only
the fields a person types are needed, the run fills in the fleet's defaults (the schemas of
every input and result are in schemas/). While the run goes on, the `progress` query of the
workflows that have one is printed to standard error on each change; the result is printed as
JSON on standard output. A bad input fails the run at once: the failure, whose message names
the field, is printed and the exit status is 1. Exit status 2 is a usage error, 3 a server
that cannot be reached.

Needs `temporalio` (examples/python/requirements.txt). Nothing here is specific to the fleet
but the table of workflow types below: any Temporal client can start these workflows with
plain JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.envconfig import ClientConfig
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError


@dataclass(frozen=True)
class Pipeline:
    """A user-started workflow: the worker queue it runs on, whether it has a `progress` query."""

    queue: str
    has_progress: bool


PIPELINES = {
    "AutomationPipeline": Pipeline("orchestrator", True),
    "EnhanceImage": Pipeline("enhancement", False),
    "EnhanceBatch": Pipeline("enhancement", True),
    "VideoPipeline": Pipeline("video", True),
    "ChecksumObject": Pipeline("ingestion", False),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="start_pipeline.py",
        description="Start a fleet workflow with a JSON input, print its progress and its result.",
    )
    parser.add_argument("workflow", help=f"workflow type: {', '.join(PIPELINES)}")
    parser.add_argument("input", help="the JSON input, or @file with it (@- for standard input)")
    parser.add_argument(
        "--address",
        help="Temporal frontend host:port (default: $TEMPORAL_ADDRESS, a temporal.toml profile, or localhost:7233)",
    )
    parser.add_argument(
        "--namespace",
        help="namespace (default: $TEMPORAL_NAMESPACE, a temporal.toml profile, or default)",
    )
    parser.add_argument(
        "--task-queue",
        help="task queue (default: the worker's queue under $TASK_QUEUE_PREFIX, as the fleet names it)",
    )
    parser.add_argument(
        "--workflow-id",
        help="workflow id (default: automation-<batch_id> for AutomationPipeline, as the Rust starter "
        "names batches; <type>-<time> otherwise)",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between progress queries (default: 2)"
    )
    parser.add_argument("--quiet", action="store_true", help="print no progress, only the result")
    args = parser.parse_args(argv)
    if args.workflow not in PIPELINES and not args.task_queue:
        parser.error(
            f"unknown workflow type {args.workflow!r}: expected one of {', '.join(PIPELINES)} "
            "(or give --task-queue for another type)"
        )
    if args.interval <= 0:
        parser.error("--interval must be a positive number of seconds")
    try:
        args.input = read_input(args.input)
    except (OSError, ValueError) as e:
        parser.error(str(e))
    return args


def read_input(text: str) -> Any:
    """The input as JSON: the text itself, or the contents of @file."""
    source = "the input"
    if text.startswith("@"):
        source = text[1:]
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{source} is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{source} must be a JSON object, got {type(value).__name__}")
    return value


def default_workflow_id(workflow: str, request: dict[str, Any]) -> str:
    batch_id = request.get("batch_id")
    if workflow == "AutomationPipeline" and isinstance(batch_id, str) and batch_id:
        return f"automation-{batch_id}"
    return f"{workflow.lower()}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def describe_failure(error: BaseException) -> list[str]:
    """One line per failure in the chain: its type when it is an application failure, whether it
    may be retried, and its message (which names the field for a bad input)."""
    lines = []
    cause: BaseException | None = error.cause if isinstance(error, WorkflowFailureError) else error
    while cause is not None:
        if isinstance(cause, ApplicationError):
            retry = " (non-retryable)" if cause.non_retryable else ""
            lines.append(f"{cause.type or 'ApplicationError'}: {cause.message}{retry}")
        elif isinstance(cause, FailureError):
            lines.append(f"{type(cause).__name__}: {cause.message}")
        else:
            lines.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return lines


async def follow_progress(handle: WorkflowHandle[Any, Any], interval: float) -> None:
    """Prints the `progress` query's answer whenever it changes, until cancelled."""
    last = None
    while True:
        try:
            now = await asyncio.wait_for(handle.query("progress"), timeout=max(interval, 5.0))
        except (RPCError, asyncio.TimeoutError):
            # No answer before a worker has run the workflow's first task, nor once it closed.
            now = None
        if now is not None and now != last:
            print(f"progress: {json.dumps(now, separators=(',', ':'))}", file=sys.stderr, flush=True)
            last = now
        await asyncio.sleep(interval)


async def run(args: argparse.Namespace) -> int:
    pipeline = PIPELINES.get(args.workflow)
    queue = args.task_queue or os.environ.get("TASK_QUEUE_PREFIX", "") + pipeline.queue
    workflow_id = args.workflow_id or default_workflow_id(args.workflow, args.input)
    # Temporal's own client configuration, as the fleet's workers read it: TEMPORAL_ADDRESS,
    # TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings, temporal.toml profiles
    # (TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE); the flags win.
    try:
        config = ClientConfig.load_client_connect_config()
    except Exception as e:  # a malformed temporal.toml or TEMPORAL_* value
        print(f"error: Temporal client configuration: {e}", file=sys.stderr)
        return 2
    config["target_host"] = args.address or config.get("target_host") or "localhost:7233"
    if args.namespace:
        config["namespace"] = args.namespace
    try:
        client = await Client.connect(**config)
    except RuntimeError as e:
        print(f"error: cannot reach Temporal at {config['target_host']}: {e}", file=sys.stderr)
        return 3
    try:
        handle = await client.start_workflow(args.workflow, args.input, id=workflow_id, task_queue=queue)
    except RPCError as e:
        print(f"error: cannot start {args.workflow} {workflow_id}: {e.message}", file=sys.stderr)
        return 1
    print(f"started {args.workflow} {workflow_id} on queue {queue}", file=sys.stderr, flush=True)

    progress = None
    if pipeline is not None and pipeline.has_progress and not args.quiet:
        progress = asyncio.create_task(follow_progress(handle, args.interval))
    try:
        # Follows continue-as-new runs to the last one.
        result = await handle.result()
    except WorkflowFailureError as e:
        print(f"error: {args.workflow} {workflow_id} did not complete:", file=sys.stderr)
        for line in describe_failure(e):
            print(f"  {line}", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.cancel()
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        # The run goes on on the server; only this client stops following it.
        print("interrupted: the workflow keeps running (temporal workflow describe shows it)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    code = main()
    # Leave without interpreter teardown: the client's Rust core threads can still call into
    # Python while it finalizes, which aborts or hangs a short-lived client process now and then
    # (temporalio/sdk-python#300, "PyGILState_Release ... finalizing"). Nothing is left to clean.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
