"""The twin's workflows, one module for the five queues (each worker registers its own):

- orchestrator: `AutomationPipeline` (the batch: a sliding window of `ImagePipeline` children,
  `max_concurrent_images` at once, continue-as-new every `images_per_run` images with the totals
  and summary parts carried along; a `progress` query) and `ImagePipeline` (navad: child
  `IngestImage`, then child `AnalyzeAccuracy`; satellite: child `Geolocalize`; kind unknown:
  `DetectImageKind` first). A failed step becomes an `error` outcome and the batch goes on.
- ingestion: `IngestImage` -> `ValidateImage`.
- accuracy-dispatcher: `AnalyzeAccuracy` -> `SplitTiles`, every `ComputeTileMetrics` at once on
  the accuracy-processor queue, `WriteAccuracyReport`.
- geolocalization: `Geolocalize` -> `ComputeFootprint`.

The structure, names, ids, search attributes and JSON are the Rust fleet's
(workers/orchestrator/src/workflows.rs and the workers' workflows). Queues are found from the
workflow's own queue (`{prefix}{role}`), so `TASK_QUEUE_PREFIX` deployments stay apart.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Optional

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError, CancelledError, FailureError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from . import contracts as c

IMAGE_TYPE = SearchAttributeKey.for_keyword("ImageType")
PIPELINE_STAGE = SearchAttributeKey.for_keyword("PipelineStage")
PIPELINE_STATUS = SearchAttributeKey.for_keyword("PipelineStatus")


def activity_options(settings: dict, task_queue: str) -> dict:
    """Keyword arguments of `workflow.execute_activity` from the request's ActivitySettings."""
    retry = settings["retry"]
    return {
        "task_queue": task_queue,
        "start_to_close_timeout": timedelta(milliseconds=settings["start_to_close_ms"]),
        "heartbeat_timeout": timedelta(milliseconds=settings["heartbeat_ms"]) if settings.get("heartbeat_ms") else None,
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(milliseconds=retry["initial_interval_ms"]),
            backoff_coefficient=retry["backoff_coefficient"],
            maximum_interval=timedelta(milliseconds=retry["maximum_interval_ms"]),
            maximum_attempts=retry["maximum_attempts"],
            non_retryable_error_types=list(retry["non_retryable_error_types"]),
        ),
    }


def bad_request(message: str) -> ApplicationError:
    return ApplicationError(message, type=c.INVALID_INPUT, non_retryable=True)


def root_cause(error: BaseException) -> tuple[Optional[str], str]:
    """(application error type, message) of the innermost failure of a chain."""
    current = error
    while isinstance(current, FailureError) and current.cause is not None:
        current = current.cause
    if isinstance(current, ApplicationError):
        error_type = current.type or None
    elif isinstance(current, TemporalTimeoutError):
        error_type = "Timeout"
    elif isinstance(current, CancelledError):
        error_type = c.CANCELLED
    else:
        error_type = None
    message = current.message if isinstance(current, FailureError) else str(current)
    return error_type, message


class StepFailed(Exception):
    """A step of an image's path failed: its root cause, and what it had written before."""

    def __init__(self, error_type: Optional[str], message: str, outputs: Optional[list] = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.outputs = outputs or []


async def run_child(name: str, arg: dict, workflow_id: str, task_queue: str) -> dict:
    """Starts a child (no retry policy: its activities retry what is transient) and waits for
    its result; any failure becomes StepFailed with the root cause."""
    try:
        handle = await workflow.start_child_workflow(name, arg, id=workflow_id, task_queue=task_queue, result_type=dict)
    except Exception as error:  # noqa: BLE001 - e.g. an id already running
        raise StepFailed(None, f"could not start {name} child {workflow_id}: {error}") from None
    try:
        return await handle
    except FailureError as error:
        raise StepFailed(*root_cause(error)) from None


# --- orchestrator queue ---


class Cursor:
    """Where the next images come from: an explicit list, or a prefix listed page by page."""

    def __init__(self, source: dict, settings: dict, carried: dict, own_queue: str):
        self.next_index = carried["next_index"]
        self.options = activity_options(settings["activities"]["batch_io"], own_queue)
        if "objects" in source:
            self.images = list(source["objects"])
            self.location = None
        elif "prefix" in source:
            self.images = None
            self.location = source["prefix"]["location"]
            self.kind = source["prefix"].get("kind")
            self.buffer: list = []
            self.fetch_after = carried.get("list_after")
            self.last_handed_out = carried.get("list_after")
            self.listing_done = False
            self.page_size = min(max(settings["images_per_run"], 1), 1000)
            self.total_known: Optional[int] = None
        else:
            raise bad_request(f"unknown batch source {sorted(source)}: expected objects or prefix")

    def total(self) -> Optional[int]:
        return len(self.images) if self.images is not None else self.total_known

    async def has_next(self) -> bool:
        if self.images is not None:
            return self.next_index < len(self.images)
        while not self.buffer and not self.listing_done:
            page = await workflow.execute_activity(
                c.LIST_BATCH_PAGE,
                {"location": self.location, "start_after": self.fetch_after, "max_keys": self.page_size},
                result_type=dict,
                **self.options,
            )
            self.buffer.extend(page["objects"])
            self.fetch_after = page.get("next_after")
            if self.fetch_after is None:
                self.listing_done = True
                self.total_known = self.next_index + len(self.buffer)
        return bool(self.buffer)

    async def next(self) -> Optional[tuple[int, dict]]:
        if not await self.has_next():
            return None
        index = self.next_index
        if self.images is not None:
            image = self.images[index]
            image = {"object": image["object"], "kind": image.get("kind")}
        else:
            o = self.buffer.pop(0)
            self.last_handed_out = o["key"]
            image = {"object": o, "kind": self.kind}
        self.next_index += 1
        return index, image

    def resume_after(self) -> Optional[str]:
        return None if self.images is not None else self.last_handed_out


@workflow.defn(name=c.AUTOMATION_PIPELINE)
class AutomationPipeline:
    def __init__(self) -> None:
        self._progress = {"done": 0, "total": None, "running": 0, "totals": c.empty_totals(), "run": 0}

    @workflow.query(name="progress")
    def progress(self) -> dict:
        return self._progress

    @workflow.run
    async def run(self, request: dict) -> dict:
        try:
            return await self._run(request)
        except FailureError:
            workflow.upsert_search_attributes([PIPELINE_STATUS.value_set("failed")])
            raise

    async def _run(self, request: dict) -> dict:
        batch_id = request.get("batch_id", "")
        problem = c.batch_id_problem(batch_id)
        if problem:
            raise bad_request(problem)
        settings = c.settings_of(request)
        output_bucket = request.get("output_bucket", "")
        carried = c.merged(
            {"next_index": 0, "list_after": None, "totals": c.empty_totals(), "summary_parts": [], "runs": 0},
            request.get("carried"),
        )
        run = carried["runs"] + 1
        try:
            summary_object = c.summary_object(output_bucket, batch_id)
            part_object = c.summary_part_object(output_bucket, batch_id, run)
        except ValueError as error:
            raise bad_request(str(error)) from None
        own_queue = workflow.info().task_queue
        source = request.get("source") or {}

        updates = [PIPELINE_STATUS.value_set("running"), PIPELINE_STAGE.value_set("images")]
        kind = c.requested_kind(source)
        if kind:
            updates.append(IMAGE_TYPE.value_set(kind))
        workflow.upsert_search_attributes(updates)

        cursor = Cursor(source, settings, carried, own_queue)
        totals = dict(carried["totals"])
        window = max(settings["max_concurrent_images"], 1)
        per_run = max(settings["images_per_run"], 1)

        def publish(running: int) -> None:
            self._progress = {"done": totals["images"], "total": cursor.total(), "running": running, "totals": dict(totals), "run": run}

        publish(0)
        finished: list[tuple[int, dict]] = []
        outcomes: list[tuple[int, dict]] = []
        tasks = []
        running = started = 0

        async def child(index: int, image: dict) -> None:
            job = {"batch_id": batch_id, "image": image, "output_bucket": output_bucket, "settings": settings}
            workflow_id = c.image_workflow_id(batch_id, index, image["object"])
            try:
                outcome = await run_child(c.IMAGE_PIPELINE, job, workflow_id, own_queue)
            except StepFailed as failed:
                outcome = c.error_outcome(image["object"], image.get("kind"), failed.message, failed.error_type)
            finished.append((index, outcome))

        # The sliding window: a new child starts as soon as one finishes.
        while True:
            while running < window and started < per_run:
                nxt = await cursor.next()
                if nxt is None:
                    break
                started += 1
                running += 1
                tasks.append(asyncio.create_task(child(*nxt)))
                publish(running)
            if running == 0:
                break
            await workflow.wait_condition(lambda: bool(finished))
            while finished:
                index, outcome = finished.pop(0)
                running -= 1
                c.record(totals, outcome)
                outcomes.append((index, outcome))
                publish(running)

        outcomes.sort(key=lambda pair: pair[0])
        images = [outcome for _, outcome in outcomes]
        batch_io = activity_options(settings["activities"]["batch_io"], own_queue)

        workflow.upsert_search_attributes([PIPELINE_STAGE.value_set("summary")])
        if await cursor.has_next():
            # This run's share is done and images remain: record its outcomes, start afresh.
            part = await workflow.execute_activity(
                c.WRITE_BATCH_SUMMARY,
                {"object": part_object, "images": images, "merge_parts": [], "totals": totals},
                result_type=dict,
                **batch_io,
            )
            next_request = {
                "batch_id": batch_id,
                "source": source,
                "output_bucket": output_bucket,
                "settings": settings,
                "carried": {
                    "next_index": cursor.next_index,
                    "list_after": cursor.resume_after(),
                    "totals": totals,
                    "summary_parts": carried["summary_parts"] + [part],
                    "runs": run,
                },
            }
            workflow.continue_as_new(next_request)

        summary = await workflow.execute_activity(
            c.WRITE_BATCH_SUMMARY,
            {"object": summary_object, "images": images, "merge_parts": carried["summary_parts"], "totals": totals},
            result_type=dict,
            **batch_io,
        )
        updates = [PIPELINE_STATUS.value_set("completed"), PIPELINE_STAGE.value_set("done")]
        kind = c.single_kind(totals)
        if kind:
            updates.append(IMAGE_TYPE.value_set(kind))
        workflow.upsert_search_attributes(updates)
        self._progress = {"done": totals["images"], "total": totals["images"], "running": 0, "totals": dict(totals), "run": run}
        return {"batch_id": batch_id, "totals": totals, "images": images, "summary": summary, "runs": run}


@workflow.defn(name=c.IMAGE_PIPELINE)
class ImagePipeline:
    @workflow.run
    async def run(self, job: dict) -> dict:
        workflow.upsert_search_attributes([PIPELINE_STATUS.value_set("running")])
        outcome = await self._process(job)
        workflow.upsert_search_attributes(
            [
                PIPELINE_STAGE.value_set("done"),
                PIPELINE_STATUS.value_set("failed" if outcome["status"] == c.ERROR else "completed"),
            ]
        )
        return outcome

    @staticmethod
    def _queue(role: str) -> str:
        return c.queue_beside(role, c.ORCHESTRATOR, workflow.info().task_queue)

    async def _process(self, job: dict) -> dict:
        image = job["image"]["object"]
        kind = job["image"].get("kind")
        activities = job["settings"]["activities"]
        if kind is None:
            workflow.upsert_search_attributes([PIPELINE_STAGE.value_set("detection")])
            try:
                kind = await workflow.execute_activity(
                    c.DETECT_IMAGE_KIND,
                    image,
                    result_type=str,
                    **activity_options(activities["detect_kind"], self._queue(c.GEOLOCALIZATION)),
                )
            except FailureError as error:
                error_type, message = root_cause(error)
                return c.error_outcome(image, None, message, error_type)
        workflow.upsert_search_attributes([IMAGE_TYPE.value_set(kind)])
        try:
            if kind == c.NAVAD:
                return await self._navad(job)
            return await self._satellite(job)
        except StepFailed as failed:
            return c.error_outcome(image, kind, failed.message, failed.error_type, failed.outputs)

    async def _navad(self, job: dict) -> dict:
        image = job["image"]["object"]
        settings = job["settings"]
        own_id = workflow.info().workflow_id

        workflow.upsert_search_attributes([PIPELINE_STAGE.value_set("ingestion")])
        ingest = {"image": image, "limits": settings["limits"], "activity": settings["activities"]["validate"]}
        metadata = await run_child(c.INGEST_IMAGE, ingest, f"{own_id}/ingest", self._queue(c.INGESTION))
        outputs = [metadata["metadata_object"]]

        workflow.upsert_search_attributes([PIPELINE_STAGE.value_set("accuracy")])
        analyze = {
            "image": image,
            "output_bucket": job["output_bucket"],
            "output_prefix": c.image_output_prefix(job["batch_id"], image),
            "tile_columns": settings["tile_columns"],
            "tile_rows": settings["tile_rows"],
            "thresholds": settings["thresholds"],
            "activities": settings["activities"],
        }
        try:
            accuracy = await run_child(c.ANALYZE_ACCURACY, analyze, f"{own_id}/accuracy", self._queue(c.ACCURACY_DISPATCHER))
        except StepFailed as failed:
            failed.outputs = outputs
            raise
        outputs.append(accuracy["report"])
        status = c.PASSED if accuracy["passed"] else c.FAILED_ACCURACY
        return c.outcome(image, c.NAVAD, status, outputs, accuracy["overall_score"], None, accuracy["failures"])

    async def _satellite(self, job: dict) -> dict:
        image = job["image"]["object"]
        workflow.upsert_search_attributes([PIPELINE_STAGE.value_set("geolocalization")])
        try:
            geojson = c.geojson_object(job["output_bucket"], job["batch_id"], image)
        except ValueError as error:
            raise StepFailed(c.INVALID_INPUT, f"no GeoJSON key for it: {error}") from None
        request = {"image": image, "geojson": geojson, "activity": job["settings"]["activities"]["footprint"]}
        own_id = workflow.info().workflow_id
        footprint = await run_child(c.GEOLOCALIZE, request, f"{own_id}/geolocalize", self._queue(c.GEOLOCALIZATION))
        return c.outcome(image, c.SATELLITE, c.PASSED, [footprint["geojson"]])


# --- ingestion queue ---


@workflow.defn(name=c.INGEST_IMAGE)
class IngestImage:
    @workflow.run
    async def run(self, request: dict) -> dict:
        options = activity_options(request["activity"], workflow.info().task_queue)
        return await workflow.execute_activity(c.VALIDATE_IMAGE, request, result_type=dict, **options)


# --- accuracy-dispatcher queue ---


@workflow.defn(name=c.ANALYZE_ACCURACY)
class AnalyzeAccuracy:
    @workflow.run
    async def run(self, request: dict) -> dict:
        image_name = c.uri(request["image"])
        columns, rows = request["tile_columns"], request["tile_rows"]
        if not 0 < columns * rows <= c.MAX_TILES:
            raise bad_request(f"{image_name}: a {columns}x{rows} tile grid is outside 1..={c.MAX_TILES} tiles")
        try:
            report = c.under(request["output_bucket"], request["output_prefix"], c.REPORT_NAME)
        except ValueError as error:
            raise bad_request(f"{image_name}: bad output location: {error}") from None
        own_queue = workflow.info().task_queue
        activities = request["activities"]

        tiles = await workflow.execute_activity(
            c.SPLIT_TILES,
            {
                "image": request["image"],
                "output_bucket": request["output_bucket"],
                "output_prefix": request["output_prefix"],
                "columns": columns,
                "rows": rows,
            },
            result_type=list,
            **activity_options(activities["split_tiles"], own_queue),
        )

        # Every tile scheduled in the same workflow task; all awaited, the first failure raised.
        processor = activity_options(activities["tile_metrics"], c.queue_beside(c.ACCURACY_PROCESSOR, c.ACCURACY_DISPATCHER, own_queue))
        blur = request["thresholds"]["min_laplacian_variance"]
        measured = await asyncio.gather(
            *(
                workflow.execute_activity(c.COMPUTE_TILE_METRICS, {"tile": tile, "blur_threshold": blur}, result_type=dict, **processor)
                for tile in tiles
            ),
            return_exceptions=True,
        )
        for result in measured:
            if isinstance(result, BaseException):
                raise result

        return await workflow.execute_activity(
            c.WRITE_ACCURACY_REPORT,
            {
                "image": request["image"],
                "report": report,
                "columns": columns,
                "rows": rows,
                "tiles": measured,
                "thresholds": request["thresholds"],
            },
            result_type=dict,
            **activity_options(activities["write_report"], own_queue),
        )


# --- geolocalization queue ---


@workflow.defn(name=c.GEOLOCALIZE)
class Geolocalize:
    @workflow.run
    async def run(self, request: dict) -> dict:
        options = activity_options(request["activity"], workflow.info().task_queue)
        return await workflow.execute_activity(c.COMPUTE_FOOTPRINT, request, result_type=dict, **options)


WORKFLOWS = {
    c.ORCHESTRATOR: [AutomationPipeline, ImagePipeline],
    c.INGESTION: [IngestImage],
    c.ACCURACY_DISPATCHER: [AnalyzeAccuracy],
    c.ACCURACY_PROCESSOR: [],
    c.GEOLOCALIZATION: [Geolocalize],
}
