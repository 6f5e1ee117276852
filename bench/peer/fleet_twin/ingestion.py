"""`ValidateImage` (ingestion queue): the checks of workers/ingestion/src/validation.rs, in the
same order (cheap first): size from a HEAD, then after the download the format from the magic
bytes, the dimensions from the header alone against the limits (decompression bombs), one full
decode, SHA-256 and an EXIF summary; then `<key>.metadata.json` beside the image.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from PIL import ExifTags, Image, UnidentifiedImageError
from temporalio import activity

from . import contracts as c
from . import storage

Image.MAX_IMAGE_PIXELS = None  # the request's limits apply instead

FORMATS = {"JPEG": "jpeg", "PNG": "png", "TIFF": "tiff"}
SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
)


class Invalid(Exception):
    """The input is bad; the text is the reason reported with the object's name."""


def check_size(size: int, limits: dict) -> None:
    if size == 0:
        raise Invalid("the file is empty (0 bytes)")
    if size > limits["max_bytes"]:
        raise Invalid(f"the file is {size} bytes, above the limit of {limits['max_bytes']} bytes")


def check_dimensions(width: int, height: int, limits: dict) -> None:
    def over(reason):
        return Invalid(f"header claims {width}x{height} pixels: {reason}")

    if width == 0 or height == 0:
        raise over("an image needs at least one pixel each way")
    if width > limits["max_width"]:
        raise over(f"width above the limit of {limits['max_width']} pixels")
    if height > limits["max_height"]:
        raise over(f"height above the limit of {limits['max_height']} pixels")
    if width * height > limits["max_pixels"]:
        raise over(f"{width * height} pixels, above the limit of {limits['max_pixels']} pixels")


def detect_format(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(8)
    for signature, name in SIGNATURES:
        if head.startswith(signature):
            return name
    try:  # another image format Pillow knows: refused by name
        with Image.open(path) as other:
            mime = Image.MIME.get(other.format or "", f"image/{(other.format or 'unknown').lower()}")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise Invalid(f"not a JPEG, PNG or TIFF image (unrecognised signature, first bytes {head.hex()})") from None
    raise Invalid(f"{mime} images are not accepted (JPEG, PNG or TIFF only)")


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(256 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).rstrip("\x00 ")


def _rationals(value) -> list[float] | None:
    if value is None:
        return None
    values = value if isinstance(value, (tuple, list)) else (value,)
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def exif_summary(image: Image.Image) -> dict:
    """Capture time, camera and GPS position, when present (informative: never an error)."""
    empty = {key: None for key in ("capture_time", "camera_make", "camera_model", "gps_latitude", "gps_longitude", "gps_altitude")}
    try:
        exif = image.getexif()
        if not exif:
            return empty
        detail = exif.get_ifd(ExifTags.IFD.Exif)
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # noqa: BLE001 - a broken EXIF block reads as no EXIF, as in Rust
        return empty

    def coordinate(value_tag, ref_tag, negative):
        dms = _rationals(gps.get(value_tag))
        if not dms or len(dms) != 3 or not all(abs(v) != float("inf") and v == v for v in dms):
            return None
        degrees = dms[0] + dms[1] / 60.0 + dms[2] / 3600.0
        ref = _text(gps.get(ref_tag))
        return -degrees if ref and ref.lower() == negative.lower() else degrees

    altitude = None
    values = _rationals(gps.get(ExifTags.GPS.GPSAltitude))
    if values and values[0] == values[0] and abs(values[0]) != float("inf"):
        ref = gps.get(ExifTags.GPS.GPSAltitudeRef)
        below = ref == 1 or ref == b"\x01" or (isinstance(ref, bytes) and ref[:1] == b"\x01")
        altitude = -values[0] if below else values[0]
    return {
        "capture_time": _text(detail.get(ExifTags.Base.DateTimeOriginal)),
        "camera_make": _text(exif.get(ExifTags.Base.Make)),
        "camera_model": _text(exif.get(ExifTags.Base.Model)),
        "gps_latitude": coordinate(ExifTags.GPS.GPSLatitude, ExifTags.GPS.GPSLatitudeRef, "S"),
        "gps_longitude": coordinate(ExifTags.GPS.GPSLongitude, ExifTags.GPS.GPSLongitudeRef, "W"),
        "gps_altitude": altitude,
    }


def inspect(path: str, limits: dict) -> dict:
    size = os.path.getsize(path)
    check_size(size, limits)
    fmt = detect_format(path)
    try:
        image = Image.open(path)  # header only: no pixel is decoded yet
        image_format = FORMATS.get(image.format)
        width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise Invalid(f"unreadable {fmt} header: {error}") from None
    with image:
        if image_format != fmt:
            raise Invalid(f"unreadable {fmt} header: the decoder reads it as {image.format}")
        check_dimensions(width, height, limits)
        try:
            image.load()  # Pillow refuses truncated data (ImageFile.LOAD_TRUNCATED_IMAGES is False)
        except (OSError, SyntaxError, ValueError) as error:
            raise Invalid(f"corrupt or truncated {fmt} data: {error}") from None
        if image.size != (width, height):
            raise Invalid(f"corrupt or truncated {fmt} data: decoded {image.size[0]}x{image.size[1]} pixels where the header says {width}x{height}")
        exif = exif_summary(image)
    return {"format": fmt, "width": width, "height": height, "size_bytes": size, "sha256": sha256_file(path), "exif": exif}


@activity.defn(name=c.VALIDATE_IMAGE)
def validate_image(request: dict) -> dict:
    """Validates a navad image and writes its metadata JSON to `<key>.metadata.json`."""
    image = request["image"]
    name = c.uri(image)
    limits = request["limits"]
    size = storage.size(image)
    if size is None:
        raise storage.failure(c.NOT_FOUND, name, "object not found")
    try:
        check_size(size, limits)
    except Invalid as error:
        raise storage.invalid_input(name, error) from None
    try:
        metadata_object = c.checked_object(image["bucket"], image["key"] + ".metadata.json")
    except ValueError as error:
        raise storage.invalid_input(name, error) from None

    with tempfile.TemporaryDirectory(prefix="fleet-twin-ingestion-") as scratch:
        local = os.path.join(scratch, "image")
        storage.download(image, local)
        try:
            inspection = inspect(local, limits)
        except Invalid as error:
            raise storage.invalid_input(name, error) from None

    metadata = {"image": image, **inspection, "metadata_object": metadata_object}
    storage.put(metadata_object, json.dumps(metadata, indent=2).encode(), "application/json")
    activity.logger.info("%s validated: %dx%d %s", name, inspection["width"], inspection["height"], inspection["format"])
    return metadata
