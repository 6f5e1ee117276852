"""The geolocalization queue's activities: `ComputeFootprint` (georeferencing -> WGS84 footprint
-> GeoJSON Feature in S3) and `DetectImageKind` (satellite or navad).

The rules are workers/geolocalization/src/{georef.rs,footprint.rs}': GeoTIFF tags first
(ModelTiepoint + ModelPixelScale, or ModelTransformation; the EPSG code from the GeoKey
directory; PixelIsPoint moves the corner half a pixel), else an ESRI world file beside the image
(`.tfw`, `.tifw`, `.wld`, ...) with the EPSG code of a `.prj` sidecar or EPSG:4326. The TIFF
header is read with tifffile (no pixel is decoded), JPEG/PNG sizes with Pillow, and corners go
to WGS84 through pyproj (PROJ), where the Rust worker uses proj4rs: both run the same
Poder/Engsager transverse Mercator for UTM, and EPSG:4326 passes through untouched.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading

import tifffile
from PIL import Image
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from temporalio import activity

from . import contracts as c
from . import storage

WGS84_EPSG = 4326
WORLD_FILE_DEFAULT_EPSG = 4326
MAX_SIDECAR_BYTES = 64 * 1024
WGS84_A = 6_378_137.0
WGS84_F = 1.0 / 298.257_223_563

MODEL_TYPE, RASTER_TYPE, GEOGRAPHIC_TYPE, PROJECTED_CS_TYPE = 1024, 1025, 2048, 3072
MODEL_PROJECTED, MODEL_GEOGRAPHIC, MODEL_GEOCENTRIC = 1, 2, 3
RASTER_PIXEL_IS_POINT = 2
USER_DEFINED = 32767
TAG_PIXEL_SCALE, TAG_TIEPOINT, TAG_TRANSFORMATION, TAG_GEOKEYS = 33550, 33922, 34264, 34735
CORNER_NAMES = ("upper_left", "upper_right", "lower_right", "lower_left")


class GeorefError(Exception):
    """Georeferencing that cannot be used: always a property of the input."""


# --- reading georeferencing ---


def is_tiff(head: bytes) -> bool:
    return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def read_tiff_header(path: str) -> dict:
    """Size and GeoTIFF tags of the first image, from the header and first directory only."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            tags = {}
            for code in (TAG_PIXEL_SCALE, TAG_TIEPOINT, TAG_TRANSFORMATION, TAG_GEOKEYS):
                tag = page.tags.get(code)
                if tag is not None:
                    tags[code] = tag.value
            width, height = int(page.imagewidth), int(page.imagelength)
    except Exception as error:  # noqa: BLE001 - tifffile raises many kinds on a broken header
        raise GeorefError(f"unreadable TIFF header: {error}") from None

    def numbers(code, name, kind):
        if code not in tags:
            return None
        value = tags[code]
        try:
            values = list(value) if not isinstance(value, (int, float)) else [value]
            return [kind(v) for v in values]
        except (TypeError, ValueError) as error:
            raise GeorefError(f"malformed {name}: {error}") from None

    return {
        "width": width,
        "height": height,
        "pixel_scale": numbers(TAG_PIXEL_SCALE, "ModelPixelScaleTag", float),
        "tiepoints": numbers(TAG_TIEPOINT, "ModelTiepointTag", float),
        "transformation": numbers(TAG_TRANSFORMATION, "ModelTransformationTag", float),
        "geokeys": numbers(TAG_GEOKEYS, "GeoKeyDirectoryTag", int),
    }


def any_geotiff_tag(header: dict) -> bool:
    return any(header[k] is not None for k in ("pixel_scale", "tiepoints", "transformation", "geokeys"))


def apply(t: tuple, col: float, row: float) -> tuple[float, float]:
    a, b, cc, d, e, f = t
    return a * col + b * row + cc, d * col + e * row + f


def to_pixel_corners(t: tuple, pixel_is_point: bool) -> tuple:
    if not pixel_is_point:
        return t
    x, y = apply(t, -0.5, -0.5)
    return (t[0], t[1], x, t[3], t[4], y)


def validated(t: tuple) -> tuple:
    determinant = t[0] * t[4] - t[1] * t[3]
    if all(math.isfinite(v) for v in t) and determinant != 0.0 and math.isfinite(determinant):
        return t
    raise GeorefError(f"degenerate raster-to-model transform {list(t)}")


def parse_geokeys(directory: list[int]) -> dict[int, int]:
    if len(directory) < 4:
        raise GeorefError(f"malformed GeoKeyDirectoryTag: {len(directory)} values, a 4-value header is required")
    count = directory[3]
    entries = directory[4:]
    if len(entries) < count * 4:
        raise GeorefError(f"malformed GeoKeyDirectoryTag: header announces {count} keys but only {len(entries)} values follow")
    keys = {}
    for n in range(count):
        key_id, location, _, value = entries[4 * n : 4 * n + 4]
        if location == 0:
            keys[key_id] = value
    return keys


def epsg_from_geokeys(keys: dict[int, int]) -> int:
    def code(key, kind):
        value = keys.get(key)
        if value is None or value == 0:
            return None
        if value == USER_DEFINED:
            raise GeorefError(f"user-defined {kind} CRS (GeoKey value 32767) is not supported; an EPSG code is required")
        return value

    model = keys.get(MODEL_TYPE)
    if model == MODEL_GEOCENTRIC:
        raise GeorefError("geocentric model space (GTModelTypeGeoKey = 3) is not supported")
    if model == MODEL_PROJECTED:
        found = code(PROJECTED_CS_TYPE, "projected")
    elif model == MODEL_GEOGRAPHIC:
        found = code(GEOGRAPHIC_TYPE, "geographic")
    else:
        found = code(PROJECTED_CS_TYPE, "projected") or code(GEOGRAPHIC_TYPE, "geographic")
    if found is None:
        raise GeorefError("no EPSG code in the GeoKeyDirectory (ProjectedCSTypeGeoKey / GeographicTypeGeoKey)")
    return found


def placement(header: dict) -> tuple:
    m = header["transformation"]
    if m is not None:
        if len(m) != 16:
            raise GeorefError(f"malformed ModelTransformationTag: {len(m)} values, 16 expected (a 4x4 matrix)")
        return (m[0], m[1], m[3], m[4], m[5], m[7])
    tiepoints = header["tiepoints"]
    if tiepoints is None:
        raise GeorefError("GeoTIFF tags give no placement: ModelTiepoint + ModelPixelScale or ModelTransformation is required")
    if len(tiepoints) < 6 or len(tiepoints) % 6:
        raise GeorefError(f"malformed ModelTiepointTag: {len(tiepoints)} values, a positive multiple of 6 expected (I, J, K, X, Y, Z)")
    scale = header["pixel_scale"]
    if scale is None:
        if len(tiepoints) > 6:
            raise GeorefError(
                f"{len(tiepoints) // 6} ground control points (ModelTiepoint without ModelPixelScale) are not supported; "
                "an affine placement is required"
            )
        raise GeorefError("GeoTIFF tags give no placement: ModelTiepoint + ModelPixelScale or ModelTransformation is required")
    if len(scale) < 2:
        raise GeorefError(f"malformed ModelPixelScaleTag: {len(scale)} values, 3 expected (Sx, Sy, Sz)")
    i, j, x, y = tiepoints[0], tiepoints[1], tiepoints[3], tiepoints[4]
    sx, sy = scale[0], scale[1]
    return (sx, 0.0, x - i * sx, 0.0, -sy, y + j * sy)


def georeference_from_tiff(header: dict):
    """The georeferencing the tags describe, or None for an ordinary TIFF."""
    if not any_geotiff_tag(header):
        return None
    keys = parse_geokeys(header["geokeys"]) if header["geokeys"] is not None else {}
    pixel_is_point = keys.get(RASTER_TYPE) == RASTER_PIXEL_IS_POINT
    affine = placement(header)
    epsg = epsg_from_geokeys(keys)
    return {
        "width": header["width"],
        "height": header["height"],
        "epsg": epsg,
        "transform": validated(to_pixel_corners(affine, pixel_is_point)),
        "raster_type": "pixel_is_point" if pixel_is_point else "pixel_is_area",
        "source": {"kind": "geotiff"},
    }


def parse_world_file(name: str, text: str) -> tuple:
    values = []
    for token in text.split():
        try:
            values.append(float(token))
        except ValueError:
            raise GeorefError(f"world file {name}: {json.dumps(token)} is not a number") from None
    if len(values) != 6:
        raise GeorefError(f"world file {name}: {len(values)} numbers, 6 expected (A D B E C F)")
    a, d, b, e, cc, f = values
    return validated(to_pixel_corners((a, b, cc, d, e, f), True))


def parse_prj_epsg(name: str, text: str) -> int:
    compact = re.sub(r"\s", "", text).upper()
    last = None
    for marker in ('AUTHORITY["EPSG","', 'ID["EPSG",', "EPSG:"):
        for match in re.finditer(re.escape(marker) + r"(\d+)", compact):
            if last is None or match.start() > last[0]:
                last = (match.start(), int(match.group(1)))
    if last is None:
        raise GeorefError(
            f"projection file {name}: no EPSG code found (expected AUTHORITY[\"EPSG\",\"n\"], ID[\"EPSG\",n] or EPSG:n)"
        )
    return last[1]


def _split_extension(key: str) -> tuple[str, str]:
    start = key.rfind("/") + 1
    dot = key[start:].rfind(".")
    if dot > 0:
        return key[: start + dot], key[start + dot + 1 :]
    return key, ""


def world_file_keys(key: str) -> list[str]:
    stem, extension = _split_extension(key)
    upper = bool(extension) and not any(ch.islower() and ch.isascii() for ch in extension)

    def cased(s):
        return s.upper() if upper else s

    keys = []
    if len(extension) >= 2:
        keys.append(f"{stem}.{cased(extension[0] + extension[-1] + 'w')}")
    if extension:
        keys.append(f"{stem}.{cased(extension + 'w')}")
    keys.append(f"{stem}.{cased('wld')}")
    deduped = [k for n, k in enumerate(keys) if n == 0 or keys[n - 1] != k]
    return deduped


def prj_key(key: str) -> str:
    stem, extension = _split_extension(key)
    upper = bool(extension) and not any(ch.islower() and ch.isascii() for ch in extension)
    return f"{stem}.{'PRJ' if upper else 'prj'}"


# --- footprint ---


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    e2 = WGS84_F * (2.0 - WGS84_F)
    phi = math.radians(lat_deg)
    w = math.sqrt(1.0 - e2 * math.sin(phi) ** 2)
    prime_vertical = WGS84_A / w
    meridional = WGS84_A * (1.0 - e2) / (w * w * w)
    return prime_vertical * math.cos(phi) * math.pi / 180.0, meridional * math.pi / 180.0


def unwrap_longitude(lon: float, reference: float) -> float:
    while lon - reference > 180.0:
        lon -= 360.0
    while lon - reference < -180.0:
        lon += 360.0
    return lon


_local = threading.local()


def _transformers(epsg: int):
    """(to WGS84, from WGS84, geographic?, metres per unit), cached per thread (pyproj
    transformers are not thread-safe)."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    if epsg not in cache:
        try:
            if epsg > 0xFFFF:  # the Rust worker's registry indexes 16-bit codes
                raise CRSError(f"EPSG:{epsg}")
            source = CRS.from_epsg(epsg)
        except CRSError:
            raise GeorefError(
                f"EPSG:{epsg} is not a known coordinate reference system (supported: codes of the EPSG registry with a PROJ "
                "definition, e.g. 4326 and the WGS 84 UTM zones 32601-32660 and 32701-32760)"
            ) from None
        if source.is_geocentric:
            raise GeorefError(f"EPSG:{epsg} is not supported: geocentric CRS, not a map projection")
        target = CRS.from_epsg(WGS84_EPSG)
        try:
            forward = Transformer.from_crs(source, target, always_xy=True)
            backward = Transformer.from_crs(target, source, always_xy=True)
        except ProjError as error:
            raise GeorefError(f"EPSG:{epsg} is not supported: {error}") from None
        to_meter = 1.0 if source.is_geographic else float(source.axis_info[0].unit_conversion_factor)
        cache[epsg] = (forward, backward, source.is_geographic, to_meter)
    return cache[epsg]


def to_wgs84(epsg: int, name: str, x: float, y: float) -> tuple[float, float]:
    def out_of_domain(reason):
        return GeorefError(f"{name} ({x!r}, {y!r}) in EPSG:{epsg} cannot be converted to WGS84: {reason}")

    if epsg == WGS84_EPSG:
        lon, lat = x, y
    else:
        forward, backward, geographic, _ = _transformers(epsg)
        try:
            lon, lat = forward.transform(x, y, errcheck=True)
            back_x, back_y = backward.transform(lon, lat, errcheck=True)
        except ProjError as error:
            raise out_of_domain(str(error)) from None
        dx = unwrap_longitude(back_x, x) - x if geographic else back_x - x
        tolerance = 1e-7 * max(abs(x), abs(y), 1.0)
        if not (abs(dx) <= tolerance and abs(back_y - y) <= tolerance):
            raise out_of_domain(f"outside the area of the projection (projects back to ({back_x}, {back_y}))")
    if not math.isfinite(lon) or not math.isfinite(lat) or abs(lat) > 90.0:
        raise out_of_domain(f"result ({lon}, {lat}) is not a valid longitude/latitude")
    return lon, lat


def compute(georef: dict) -> dict:
    w, h = float(georef["width"]), float(georef["height"])
    t = georef["transform"]
    epsg = georef["epsg"]
    model_corners = [apply(t, 0.0, 0.0), apply(t, w, 0.0), apply(t, w, h), apply(t, 0.0, h)]
    center = list(to_wgs84(epsg, "centre", *apply(t, w / 2.0, h / 2.0)))
    corners = []
    for (x, y), name in zip(model_corners, ("upper-left corner", "upper-right corner", "lower-right corner", "lower-left corner")):
        lon, lat = to_wgs84(epsg, name, x, y)
        corners.append([unwrap_longitude(lon, center[0]), lat])
    a, b, _, d, e, _ = t
    if epsg == WGS84_EPSG or _transformers(epsg)[2]:
        per_lon, per_lat = metres_per_degree(center[1])
        gsd = [math.hypot(a * per_lon, d * per_lat), math.hypot(b * per_lon, e * per_lat)]
    else:
        to_meter = _transformers(epsg)[3]
        gsd = [math.hypot(a, d) * to_meter, math.hypot(b, e) * to_meter]
    return {"corners": corners, "center": center, "gsd_m": gsd}


def feature(image: dict, georef: dict, geometry: dict) -> dict:
    cs = geometry["corners"]
    twice_area = sum(cs[i][0] * cs[(i + 1) % 4][1] - cs[(i + 1) % 4][0] * cs[i][1] for i in range(4))
    ring = [cs[0], cs[1], cs[2], cs[3], cs[0]] if twice_area > 0.0 else [cs[0], cs[3], cs[2], cs[1], cs[0]]
    lons, lats = [p[0] for p in cs], [p[1] for p in cs]
    return {
        "type": "Feature",
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "image": c.uri(image),
            "width": georef["width"],
            "height": georef["height"],
            "source_epsg": georef["epsg"],
            "raster_type": georef["raster_type"],
            "georeferencing": georef["source"],
            "center": geometry["center"],
            "gsd_m": geometry["gsd_m"],
            "corners": dict(zip(CORNER_NAMES, cs)),
        },
    }


# --- the activities ---


def _read_header(image: dict) -> dict:
    """{"tiff": header | GeorefError | None, "dimensions": (w, h) | None} of the image."""
    with tempfile.TemporaryDirectory(prefix="fleet-twin-geo-") as scratch:
        local = os.path.join(scratch, "image")
        storage.download(image, local)
        with open(local, "rb") as f:
            head = f.read(4)
        if is_tiff(head):
            try:
                header = read_tiff_header(local)
            except GeorefError as error:
                return {"tiff": error, "dimensions": None}
            return {"tiff": header, "dimensions": (header["width"], header["height"])}
        try:
            with Image.open(local) as other:
                dimensions = other.size
        except Exception:  # noqa: BLE001 - no readable size: reported only if a world file needs it
            dimensions = None
        return {"tiff": None, "dimensions": dimensions}


def _find_sidecar(keys: list[str], image: dict):
    for key in keys:
        if c.key_problem(key):
            continue
        candidate = c.obj(image["bucket"], key)
        if storage.size(candidate) is not None:
            return candidate
    return None


def _read_sidecar(sidecar: dict) -> str:
    size = storage.size(sidecar)
    if size is not None and size > MAX_SIDECAR_BYTES:
        raise storage.invalid_input(c.uri(sidecar), f"sidecar larger than {MAX_SIDECAR_BYTES} bytes")
    try:
        return storage.get(sidecar).decode("utf-8")
    except UnicodeDecodeError:
        raise storage.invalid_input(c.uri(sidecar), "sidecar is not UTF-8 text") from None


def _georeference_from_sidecars(image: dict, dimensions):
    name = c.uri(image)
    candidates = world_file_keys(image["key"])
    world_file = _find_sidecar(candidates, image)
    if world_file is None:
        names = ", ".join(f"s3://{image['bucket']}/{key}" for key in candidates)
        raise storage.invalid_input(
            name,
            "no georeferencing: no GeoTIFF tags (ModelTiepoint + ModelPixelScale or ModelTransformation) "
            f"and no world file ({names})",
        )
    if dimensions is None:
        raise storage.invalid_input(name, f"has a world file ({c.uri(world_file)}) but its image size cannot be read")
    world_text = _read_sidecar(world_file)
    prj = _find_sidecar([prj_key(image["key"])], image)
    prj_text = _read_sidecar(prj) if prj is not None else None
    try:
        transform = parse_world_file(c.uri(world_file), world_text)
        epsg = parse_prj_epsg(c.uri(prj), prj_text) if prj is not None else WORLD_FILE_DEFAULT_EPSG
    except GeorefError as error:
        raise storage.invalid_input(name, error) from None
    return {
        "width": dimensions[0],
        "height": dimensions[1],
        "epsg": epsg,
        "transform": transform,
        "raster_type": "pixel_is_point",
        "source": {"kind": "world_file", "world_file": c.uri(world_file), "prj": c.uri(prj) if prj is not None else None},
    }


@activity.defn(name=c.COMPUTE_FOOTPRINT)
def compute_footprint(request: dict) -> dict:
    """Georeferencing -> WGS84 footprint -> GeoJSON Feature at `request.geojson`."""
    image = request["image"]
    name = c.uri(image)
    header = _read_header(image)
    tiff = header["tiff"]
    if isinstance(tiff, GeorefError):
        raise storage.invalid_input(name, tiff)
    try:
        georef = georeference_from_tiff(tiff) if tiff is not None else None
    except GeorefError as error:
        raise storage.invalid_input(name, error) from None
    if georef is None:
        georef = _georeference_from_sidecars(image, header["dimensions"])
    try:
        geometry = compute(georef)
    except GeorefError as error:
        raise storage.invalid_input(name, error) from None
    body = json.dumps(feature(image, georef, geometry), separators=(",", ":")).encode()
    storage.put(request["geojson"], body, "application/geo+json")
    activity.logger.info("footprint of %s written (EPSG:%d)", name, georef["epsg"])
    return {
        "image": image,
        "geojson": request["geojson"],
        "source_epsg": georef["epsg"],
        "corners": geometry["corners"],
        "center": geometry["center"],
        "gsd_m": geometry["gsd_m"],
    }


@activity.defn(name=c.DETECT_IMAGE_KIND)
def detect_image_kind(image: dict) -> str:
    """`satellite` when the image has a world file or GeoTIFF tags, else `navad`."""
    if storage.size(image) is None:
        raise storage.failure(c.NOT_FOUND, c.uri(image), "object not found")
    if _find_sidecar(world_file_keys(image["key"]), image) is not None:
        return c.SATELLITE
    tiff = _read_header(image)["tiff"]
    if isinstance(tiff, dict) and any_geotiff_tag(tiff):
        return c.SATELLITE
    return c.NAVAD
