"""What the workers of the twin share: names, defaults, object keys and the bookkeeping of a
batch, all pure (no I/O), so workflows import it through the sandbox and tests call it directly.

Every name and JSON field here is the Rust fleet's (crates/contracts/src/automation.rs,
workers/orchestrator/src/bookkeeping.rs): the twin takes the same `AutomationRequest` and returns
the same `AutomationSummary`. Messages are plain dicts, as serde writes them.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Optional

# Task queues (before the deployment prefix) and the worker roles polling them.
ORCHESTRATOR = "orchestrator"
INGESTION = "ingestion"
ACCURACY_DISPATCHER = "accuracy-dispatcher"
ACCURACY_PROCESSOR = "accuracy-processor"
GEOLOCALIZATION = "geolocalization"
ROLES = (ORCHESTRATOR, INGESTION, ACCURACY_DISPATCHER, ACCURACY_PROCESSOR, GEOLOCALIZATION)

# Workflow and activity type names.
AUTOMATION_PIPELINE = "AutomationPipeline"
IMAGE_PIPELINE = "ImagePipeline"
INGEST_IMAGE = "IngestImage"
ANALYZE_ACCURACY = "AnalyzeAccuracy"
GEOLOCALIZE = "Geolocalize"
VALIDATE_IMAGE = "ValidateImage"
DETECT_IMAGE_KIND = "DetectImageKind"
SPLIT_TILES = "SplitTiles"
COMPUTE_TILE_METRICS = "ComputeTileMetrics"
WRITE_ACCURACY_REPORT = "WriteAccuracyReport"
COMPUTE_FOOTPRINT = "ComputeFootprint"
LIST_BATCH_PAGE = "ListBatchPage"
WRITE_BATCH_SUMMARY = "WriteBatchSummary"

# Application error types (crates/contracts/src/errors.rs).
INVALID_INPUT = "InvalidInput"
NOT_FOUND = "NotFound"
REJECTED = "Rejected"
TRANSIENT = "Transient"
CANCELLED = "Cancelled"

# Image kinds and statuses as serialized.
NAVAD = "navad"
SATELLITE = "satellite"
PASSED = "passed"
FAILED_ACCURACY = "failed_accuracy"
ERROR = "error"

# Output layout.
OUTPUT_ROOT = "automation"
REPORT_NAME = "accuracy-report.json"
MAX_TILES = 1024
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "tif", "tiff")


def queue_prefix(own_task_queue: str, own_role: str) -> str:
    """The deployment prefix, read from a workflow's own queue (`{prefix}{role}`)."""
    return own_task_queue[: -len(own_role)] if own_task_queue.endswith(own_role) else ""


def queue_beside(role: str, own_role: str, own_task_queue: str) -> str:
    """The queue of `role` in the deployment whose `own_role` queue is `own_task_queue`."""
    return queue_prefix(own_task_queue, own_role) + role


# --- defaults (serde fills nothing: the starter sends every field, but a hand-written request
# may leave settings out, and the twin reads what is there over these) ---


def _activity(timeout_ms: int, heartbeat_ms: int = 0) -> dict:
    return {
        "start_to_close_ms": timeout_ms,
        "heartbeat_ms": heartbeat_ms,
        "retry": {
            "initial_interval_ms": 1_000,
            "backoff_coefficient": 2.0,
            "maximum_interval_ms": 30_000,
            "maximum_attempts": 5,
            "non_retryable_error_types": [INVALID_INPUT],
        },
    }


MINUTE_MS = 60_000
DEFAULT_SETTINGS: dict = {
    "max_concurrent_images": 8,
    "images_per_run": 200,
    "tile_columns": 4,
    "tile_rows": 4,
    "thresholds": {
        "min_laplacian_variance": 100.0,
        "max_blurred_tile_fraction": 0.25,
        "min_mean_luminance": 40.0,
        "max_mean_luminance": 220.0,
        "max_clipped_fraction": 0.05,
        "min_overall_score": 60.0,
    },
    "limits": {
        "max_width": 30_000,
        "max_height": 30_000,
        "max_pixels": 250_000_000,
        "max_bytes": 512 * 1024 * 1024,
    },
    "activities": {
        "validate": _activity(2 * MINUTE_MS),
        "detect_kind": _activity(MINUTE_MS),
        "split_tiles": _activity(5 * MINUTE_MS),
        "tile_metrics": _activity(2 * MINUTE_MS, 10_000),
        "write_report": _activity(MINUTE_MS),
        "footprint": _activity(MINUTE_MS),
        "batch_io": _activity(MINUTE_MS),
    },
}


def merged(defaults: Any, given: Any) -> Any:
    """`given` over `defaults`, recursively for dicts (unknown fields of `given` are dropped)."""
    if isinstance(defaults, dict):
        given = given if isinstance(given, dict) else {}
        return {key: merged(value, given.get(key)) if key in given else copy.deepcopy(value) for key, value in defaults.items()}
    return defaults if given is None else given


def settings_of(request: dict) -> dict:
    return merged(DEFAULT_SETTINGS, request.get("settings"))


# --- objects ---


def obj(bucket: str, key: str) -> dict:
    return {"bucket": bucket, "key": key}


def uri(o: dict) -> str:
    return f"s3://{o['bucket']}/{o['key']}"


def file_name(o: dict) -> str:
    return o["key"].rsplit("/", 1)[-1]


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def key_problem(key: str) -> Optional[str]:
    """Why the fleet would refuse `key` as an object key, or None (contracts::object)."""
    if not key:
        return "empty key"
    if len(key.encode()) > 1024:
        return "longer than 1024 bytes"
    if key.startswith("/"):
        return "absolute path"
    if "\\" in key:
        return "backslash"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key):
        return "control character"
    for segment in key.split("/"):
        if segment == "":
            return "empty path segment"
        if segment in (".", ".."):
            return "'.' or '..' path segment"
    return None


def checked_object(bucket: str, key: str) -> dict:
    """An object reference, or ValueError naming what is wrong (ObjectRef::new)."""
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(
            f"invalid bucket name {bucket!r}: 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"
        )
    problem = key_problem(key)
    if problem:
        raise ValueError(f"invalid object key {key!r}: {problem}")
    return obj(bucket, key)


def under(bucket: str, prefix: str, name: str) -> dict:
    prefix = prefix.rstrip("/")
    return checked_object(bucket, f"{prefix}/{name}" if prefix else name)


def is_image_key(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    return bool(dot) and bool(stem) and extension.lower() in IMAGE_EXTENSIONS


def is_batch_image(key: str, listing_prefix: str) -> bool:
    """An image file, and not inside the fleet's own outputs unless the listing asked for them."""
    if not is_image_key(key):
        return False
    in_outputs = key.startswith(f"{OUTPUT_ROOT}/")
    listing_outputs = listing_prefix.startswith(f"{OUTPUT_ROOT}/") or listing_prefix == OUTPUT_ROOT
    return not in_outputs or listing_outputs


# --- batch bookkeeping ---

_BATCH_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def batch_id_problem(batch_id: str) -> Optional[str]:
    if isinstance(batch_id, str) and _BATCH_ID.match(batch_id) and not batch_id.startswith("."):
        return None
    return (
        f"invalid batch id {batch_id!r}: 1-100 characters of letters, digits, '-', '_' and '.', not starting with '.'"
    )


def _sanitize(text: str) -> str:
    return "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "-" for c in text)


def image_workflow_id(batch_id: str, index: int, image: dict) -> str:
    return f"{_sanitize(batch_id)}/{index}-{_sanitize(file_name(image))}"


def image_output_prefix(batch_id: str, image: dict) -> str:
    return f"{OUTPUT_ROOT}/{batch_id}/{image['key']}"


def geojson_object(output_bucket: str, batch_id: str, image: dict) -> dict:
    return checked_object(output_bucket, f"{image_output_prefix(batch_id, image)}.geojson")


def summary_part_object(output_bucket: str, batch_id: str, run: int) -> dict:
    return checked_object(output_bucket, f"{OUTPUT_ROOT}/{batch_id}/summary/part-{run:04d}.json")


def summary_object(output_bucket: str, batch_id: str) -> dict:
    return checked_object(output_bucket, f"{OUTPUT_ROOT}/{batch_id}/summary.json")


def empty_totals() -> dict:
    return {"images": 0, "navad": 0, "satellite": 0, "passed": 0, "failed_accuracy": 0, "errors": 0}


def record(totals: dict, outcome: dict) -> None:
    totals["images"] += 1
    if outcome.get("kind") in (NAVAD, SATELLITE):
        totals[outcome["kind"]] += 1
    status = outcome["status"]
    totals["passed" if status == PASSED else "failed_accuracy" if status == FAILED_ACCURACY else "errors"] += 1


def single_kind(totals: dict) -> Optional[str]:
    if totals["navad"] and not totals["satellite"]:
        return NAVAD
    if totals["satellite"] and not totals["navad"]:
        return SATELLITE
    return None


def requested_kind(source: dict) -> Optional[str]:
    if "prefix" in source:
        return source["prefix"].get("kind")
    images = source.get("objects") or []
    if not images or not images[0].get("kind"):
        return None
    first = images[0]["kind"]
    return first if all(i.get("kind") == first for i in images) else None


def outcome(image: dict, kind: Optional[str], status: str, outputs: list, score: Optional[float] = None, error: Optional[str] = None, failures: Optional[list] = None) -> dict:
    return {
        "object": image,
        "kind": kind,
        "status": status,
        "outputs": outputs,
        "score": score,
        "error": error,
        "accuracy_failures": failures or [],
    }


def error_outcome(image: dict, kind: Optional[str], message: str, error_type: Optional[str], outputs: Optional[list] = None) -> dict:
    """An `error` outcome whose message names the image even when the root cause does not."""
    named = message if image["key"] in message else f"{uri(image)}: {message}"
    error = f"{named} ({error_type})" if error_type else named
    return outcome(image, kind, ERROR, outputs or [], error=error)
