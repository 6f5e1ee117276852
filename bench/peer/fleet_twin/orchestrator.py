"""Activities of the orchestrator queue: one page of a batch prefix (`ListBatchPage`) and the
batch summary (`WriteBatchSummary`: a run's part, or every part merged into `summary.json`)."""

from __future__ import annotations

import json

from temporalio import activity

from . import contracts as c
from . import storage

MAX_PAGE = 1000


@activity.defn(name=c.LIST_BATCH_PAGE)
def list_batch_page(request: dict) -> dict:
    """Up to `max_keys` keys under the prefix after `start_after`, the images among them."""
    location = request["location"]
    max_keys = min(max(int(request["max_keys"]), 1), MAX_PAGE)
    listed, next_after = storage.list_page(location["bucket"], location["prefix"], request.get("start_after"), max_keys)
    page = {"objects": [], "skipped_before": [], "skipped_after": 0, "next_after": next_after}
    for o in listed:
        if c.is_batch_image(o["key"], location["prefix"]):
            page["objects"].append(o)
            page["skipped_before"].append(page["skipped_after"])
            page["skipped_after"] = 0
        else:
            page["skipped_after"] += 1
    return page


@activity.defn(name=c.WRITE_BATCH_SUMMARY)
def write_batch_summary(request: dict) -> dict:
    """Writes `object`: the images of `merge_parts` (read back, in order), then `images`."""
    images = []
    for part in request.get("merge_parts") or []:
        try:
            images.extend(json.loads(storage.get(part))["images"])
        except (ValueError, KeyError, TypeError) as error:
            raise storage.invalid_input(c.uri(part), f"not a batch summary part: {error}") from None
    images.extend(request["images"])
    document = {"totals": request["totals"], "images": images}
    storage.put(request["object"], json.dumps(document, indent=2).encode(), "application/json")
    activity.logger.info("summary %s written: %d images", c.uri(request["object"]), len(images))
    return request["object"]
