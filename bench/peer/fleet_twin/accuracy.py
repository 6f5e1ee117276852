"""The navad accuracy analysis: tiling (accuracy-dispatcher), tile metrics (accuracy-processor)
and the report (accuracy-dispatcher). The formulas are those of
workers/accuracy-dispatcher/src/{tiling.rs,report.rs} and workers/accuracy-processor/src/metrics.rs
(the latter through bench/peer/metrics.py, the kernel benchmark's NumPy peer).

Activities here are plain functions run in the worker's thread pool: decoding, NumPy and
boto3 all block.
"""

from __future__ import annotations

import importlib.util
import io
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import numpy as np
from PIL import Image
from temporalio import activity

from . import contracts as c
from . import storage
from .luma import image_to_luma

Image.MAX_IMAGE_PIXELS = None  # ingestion's limits were checked before: no second, smaller cap

MIN_TILE_SIDE = 3
UPLOAD_CONCURRENCY = 8

SHARPNESS_WEIGHT = 45.0
EXPOSURE_WEIGHT = 25.0
CLIPPING_WEIGHT = 15.0
NOISE_WEIGHT = 15.0
EXPOSURE_FALLOFF = 64.0
NOISE_SIGMA_AT_ZERO = 25.0
REPORT_SCHEMA = 1


def _load_kernel():
    """bench/peer/metrics.py, the NumPy formulas the kernel benchmark checks against Rust."""
    path = Path(__file__).resolve().parent.parent / "metrics.py"
    spec = importlib.util.spec_from_file_location("fleet_twin_peer_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kernel = _load_kernel()
_uploads = ThreadPoolExecutor(UPLOAD_CONCURRENCY, thread_name_prefix="tile-upload")


class InputFault(Exception):
    """The input (image or grid) is at fault: retrying cannot help."""


# --- tiling ---


def grid(width: int, height: int, columns: int, rows: int) -> list[dict]:
    """Row-major rectangles; the last column and row absorb the remainder."""
    if columns == 0 or rows == 0:
        raise InputFault(f"a {columns}x{rows} grid has no tiles")
    tile_width, tile_height = width // columns, height // rows
    if tile_width < MIN_TILE_SIDE or tile_height < MIN_TILE_SIDE:
        raise InputFault(
            f"a {width}x{height} image is too small for a {columns}x{rows} grid: "
            f"tiles need at least {MIN_TILE_SIDE}x{MIN_TILE_SIDE} pixels"
        )

    def span(index, count, step, total):
        start = index * step
        return start, (total - start if index + 1 == count else step)

    rects = []
    for row in range(rows):
        for column in range(columns):
            x, w = span(column, columns, tile_width, width)
            y, h = span(row, rows, tile_height, height)
            rects.append({"column": column, "row": row, "x": x, "y": y, "width": w, "height": h})
    return rects


def decode_luminance(source) -> np.ndarray:
    try:
        with Image.open(source) as image:
            image.load()
            return image_to_luma(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InputFault(f"cannot decode the image: {error}") from error


def encode_png(luma: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(luma, mode="L").save(out, format="PNG")
    return out.getvalue()


@activity.defn(name=c.SPLIT_TILES)
def split_tiles(request: dict) -> list[dict]:
    """Decodes the image once into 8-bit luminance, cuts the grid and writes every tile as a
    grayscale PNG at `<output_prefix>/tiles/r{row}c{col}.png`; returns the tile references."""
    image = request["image"]
    name = c.uri(image)
    data = storage.get(image)
    try:
        luma = decode_luminance(io.BytesIO(data))
        rects = grid(luma.shape[1], luma.shape[0], request["columns"], request["rows"])
    except InputFault as error:
        raise storage.invalid_input(name, error) from None
    del data

    def upload(rect: dict) -> dict:
        try:
            tile_object = c.under(
                request["output_bucket"], request["output_prefix"], f"tiles/r{rect['row']}c{rect['column']}.png"
            )
        except ValueError as error:
            raise storage.invalid_input(name, f"bad output location: {error}") from None
        tile = luma[rect["y"] : rect["y"] + rect["height"], rect["x"] : rect["x"] + rect["width"]]
        storage.put(tile_object, encode_png(tile), "image/png")
        return {**rect, "object": tile_object}

    tiles = list(_uploads.map(upload, rects))
    activity.logger.info("%s split into %d tiles", name, len(tiles))
    return tiles


# --- tile metrics ---

WORKER_IDENTITY = f"{socket.gethostname()}:{os.getpid()}/1"


@activity.defn(name=c.COMPUTE_TILE_METRICS)
def compute_tile_metrics(request: dict) -> dict:
    """Quality metrics of one tile (bench/peer/metrics.py), heartbeating as it goes."""
    tile = request["tile"]
    name = c.uri(tile["object"])
    activity.heartbeat(f"downloading tile r{tile['row']}c{tile['column']} ({name})")
    data = storage.get(tile["object"])
    activity.heartbeat(f"measuring tile r{tile['row']}c{tile['column']} ({name})")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as decoded:
            decoded.load()
            pixels = image_to_luma(decoded)
    except (OSError, SyntaxError, ValueError) as error:
        raise storage.invalid_input(name, f"not a readable PNG tile: {error}") from None
    height, width = pixels.shape
    if (width, height) != (tile["width"], tile["height"]):
        raise storage.invalid_input(
            name, f"tile is {width}x{height} pixels, its reference says {tile['width']}x{tile['height']}"
        )
    measured = kernel.measure(pixels)
    return {
        "tile": tile,
        "laplacian_variance": measured["laplacian_variance"],
        "mean_luminance": measured["mean_luminance"],
        "shadow_clipped_fraction": measured["shadow_clipped_fraction"],
        "highlight_clipped_fraction": measured["highlight_clipped_fraction"],
        "noise_sigma": measured["noise_sigma"],
        "blurred": measured["laplacian_variance"] < request["blur_threshold"],
        "worker": WORKER_IDENTITY,
    }


# --- the report ---


def rust_display(value: float) -> str:
    """An f64 as Rust's `{}` prints it (shortest round trip, never an exponent, no `.0`)."""
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def aggregate(tiles: list[dict]) -> dict:
    areas = [float(t["tile"]["width"]) * float(t["tile"]["height"]) for t in tiles]
    pixels = sum(areas)

    def weighted(field):
        return sum(t[field] * area for t, area in zip(tiles, areas)) / pixels

    variances = sorted(t["laplacian_variance"] for t in tiles)
    middle = len(variances) // 2
    median = variances[middle] if len(variances) % 2 else (variances[middle - 1] + variances[middle]) / 2.0
    blurred = sum(1 for t in tiles if t["blurred"])
    shadow, highlight = weighted("shadow_clipped_fraction"), weighted("highlight_clipped_fraction")
    return {
        "tiles": len(tiles),
        "blurred_tiles": blurred,
        "blurred_fraction": blurred / len(tiles),
        "min_laplacian_variance": variances[0],
        "median_laplacian_variance": median,
        "mean_luminance": weighted("mean_luminance"),
        "shadow_clipped_fraction": shadow,
        "highlight_clipped_fraction": highlight,
        "clipped_fraction": shadow + highlight,
        "noise_sigma": weighted("noise_sigma"),
    }


def score(agg: dict, thresholds: dict) -> dict:
    def unit(v):
        return min(max(v, 0.0), 1.0)

    sharpness = unit(1.0 - agg["blurred_fraction"])
    outside = max(thresholds["min_mean_luminance"] - agg["mean_luminance"], agg["mean_luminance"] - thresholds["max_mean_luminance"], 0.0)
    exposure = unit(1.0 - outside / EXPOSURE_FALLOFF)
    if thresholds["max_clipped_fraction"] > 0.0:
        clipping = unit(1.0 - agg["clipped_fraction"] / (2.0 * thresholds["max_clipped_fraction"]))
    else:
        clipping = 0.0 if agg["clipped_fraction"] > 0.0 else 1.0
    noise = unit(1.0 - agg["noise_sigma"] / NOISE_SIGMA_AT_ZERO)
    overall = SHARPNESS_WEIGHT * sharpness + EXPOSURE_WEIGHT * exposure + CLIPPING_WEIGHT * clipping + NOISE_WEIGHT * noise
    return {"sharpness": sharpness, "exposure": exposure, "clipping": clipping, "noise": noise, "overall": overall}


def failures(agg: dict, breakdown: dict, thresholds: dict) -> list[str]:
    d = rust_display
    lines = []
    if agg["blurred_fraction"] > thresholds["max_blurred_tile_fraction"]:
        lines.append(
            f"blur: {agg['blurred_tiles']} of {agg['tiles']} tiles ({agg['blurred_fraction'] * 100:.0f}%) have a Laplacian "
            f"variance below {d(thresholds['min_laplacian_variance'])} (at most {thresholds['max_blurred_tile_fraction'] * 100:.0f}% "
            f"may be blurred; median variance {agg['median_laplacian_variance']:.1f})"
        )
    if agg["mean_luminance"] < thresholds["min_mean_luminance"]:
        lines.append(f"exposure: underexposed, mean luminance {agg['mean_luminance']:.1f} below {d(thresholds['min_mean_luminance'])}")
    elif agg["mean_luminance"] > thresholds["max_mean_luminance"]:
        lines.append(f"exposure: overexposed, mean luminance {agg['mean_luminance']:.1f} above {d(thresholds['max_mean_luminance'])}")
    if agg["clipped_fraction"] > thresholds["max_clipped_fraction"]:
        lines.append(
            f"clipping: {agg['clipped_fraction'] * 100:.2f}% of pixels clipped ({agg['shadow_clipped_fraction'] * 100:.2f}% shadows, "
            f"{agg['highlight_clipped_fraction'] * 100:.2f}% highlights), above {thresholds['max_clipped_fraction'] * 100:.2f}%"
        )
    if breakdown["overall"] < thresholds["min_overall_score"]:
        lines.append(f"score: {breakdown['overall']:.1f} below the minimum of {d(thresholds['min_overall_score'])}")
    return lines


def build_report(request: dict) -> dict:
    columns, rows = request["columns"], request["rows"]
    if columns == 0 or rows == 0:
        raise InputFault(f"a {columns}x{rows} grid has no tiles")
    cells = [[None] * columns for _ in range(rows)]
    for metrics in request["tiles"]:
        row, column = metrics["tile"]["row"], metrics["tile"]["column"]
        if not (0 <= row < rows and 0 <= column < columns):
            raise InputFault(f"tile r{row}c{column} lies outside the {columns}x{rows} grid")
        if cells[row][column] is not None:
            raise InputFault(f"tile r{row}c{column} appears twice")
        cells[row][column] = metrics
    for row in range(rows):
        for column in range(columns):
            if cells[row][column] is None:
                raise InputFault(f"tile r{row}c{column} is missing")
    agg = aggregate(request["tiles"])
    thresholds = request["thresholds"]
    breakdown = score(agg, thresholds)
    failed = failures(agg, breakdown, thresholds)
    return {
        "schema": REPORT_SCHEMA,
        "image": request["image"],
        "columns": columns,
        "rows": rows,
        "grid": cells,
        "aggregate": agg,
        "score": breakdown,
        "thresholds": thresholds,
        "passed": not failed,
        "failures": failed,
        "processors": sorted({t["worker"] for t in request["tiles"]}),
    }


@activity.defn(name=c.WRITE_ACCURACY_REPORT)
def write_accuracy_report(request: dict) -> dict:
    """Aggregates the tiles' metrics into the report, writes it as JSON, returns the verdict."""
    import json

    try:
        report = build_report(request)
    except InputFault as error:
        raise storage.invalid_input(c.uri(request["image"]), f"cannot build the accuracy report: {error}") from None
    storage.put(request["report"], json.dumps(report, indent=2).encode(), "application/json")
    activity.logger.info("accuracy report of %s: score %.3f, passed %s", c.uri(request["image"]), report["score"]["overall"], report["passed"])
    return {
        "image": request["image"],
        "report": request["report"],
        "overall_score": report["score"]["overall"],
        "passed": report["passed"],
        "failures": report["failures"],
        "processors": report["processors"],
    }
