"""8-bit luminance exactly as the Rust fleet gets it from `image` 0.25.10's `into_luma8`.

Pillow's `convert("L")` uses ITU-R 601 weights (299/587/114, rounded in fixed point); the Rust
workers use `image`, whose RGB -> Luma cast (`ImageBuffer::cast_in_color_space`, through
`Cicp::cast_pixels`' float fallback) does, in f32 and in this order:

    r, g, b = component * (1.0f32 / 255.0f32)        (each)
    y = ((0 + r * kr) + g * kg) + b * kb             (no FMA on a default x86-64 build)
    luma = round_half_away_from_zero(y * 255.0f32)   (saturating)

with (kr, kg, kb) the Y row of moxcms' RGB -> XYZ matrix for the BT.709 primaries and the D65
white point, computed in f32 as `ColorPrimaries::transform_to_xyz` does (close to
0.2126 / 0.7152 / 0.0722 but not exactly). Alpha is dropped; 8-bit grey passes through; 16-bit
grey becomes (v + 128) // 257. NumPy's float32 arithmetic is IEEE single precision, so every
step below matches bit for bit.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

f32 = np.float32


def _luminance_coefficients() -> tuple[np.float32, np.float32, np.float32]:
    # moxcms: Chromaticity::to_scaled_xyz (f32) for the primaries.
    primaries = [(f32(0.64), f32(0.33)), (f32(0.30), f32(0.60)), (f32(0.15), f32(0.06))]
    columns = [(x, y, (f32(1.0) - x) - y) for x, y in primaries]
    m = [[columns[col][row] for col in range(3)] for row in range(3)]
    # White point: Chromaticity -> XyY (f64 of the f32 values) -> Xyz (f64 math, cast to f32).
    wx, wy = float(f32(0.31272)), float(f32(0.32903))
    reciprocal = 1.0 / wy * 1.0
    w = (f32(wx * reciprocal), f32(1.0), f32((1.0 - wx - wy) * reciprocal))
    # Matrix3f::determinant and ::inverse, f32, in moxcms' order of operations.
    (a, b, cc), (d, e, f), (g, h, i) = m
    a0, a1, a2 = (a * e) * i, (b * f) * g, (cc * d) * h
    s0, s1, s2 = (cc * e) * g, (b * d) * i, (a * f) * h
    det = f32(1.0) / (((((a0 + a1) + a2) - s0) - s1) - s2)
    inv = [
        [(e * i - f * h) * det, (cc * h - b * i) * det, (b * f - cc * e) * det],
        [(f * g - d * i) * det, (a * i - cc * g) * det, (cc * d - a * f) * det],
        [(d * h - e * g) * det, (b * g - a * h) * det, (a * e - b * d) * det],
    ]
    # Matrix3f::mul_vector (note the order of the first row's terms).
    s = (
        (inv[0][1] * w[1] + inv[0][2] * w[2]) + inv[0][0] * w[0],
        (inv[1][0] * w[0] + inv[1][1] * w[1]) + inv[1][2] * w[2],
        (inv[2][0] * w[0] + inv[2][1] * w[1]) + inv[2][2] * w[2],
    )
    # mul_row_vector: the Y row scaled column by column.
    return f32(m[1][0] * s[0]), f32(m[1][1] * s[1]), f32(m[1][2] * s[2])


KR, KG, KB = _luminance_coefficients()
_INV_255 = f32(1.0) / f32(255.0)


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 (..., 3 or 4) -> uint8 (...), the `image` crate's way."""
    r = rgb[..., 0].astype(f32) * _INV_255
    y = r * KR
    y += (rgb[..., 1].astype(f32) * _INV_255) * KG
    y += (rgb[..., 2].astype(f32) * _INV_255) * KB
    y *= f32(255.0)
    whole = np.floor(y)
    rounded = whole + (y - whole >= f32(0.5))  # f32::round: halves away from zero (y >= 0)
    return np.clip(rounded, 0, 255).astype(np.uint8)


def image_to_luma(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image as the 8-bit luminance `image`'s `into_luma8` gives."""
    mode = image.mode
    if mode == "L":
        return np.asarray(image)
    if mode == "LA":
        return np.asarray(image.getchannel("L"))
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image).astype(np.uint32)
        return ((np.clip(values, 0, 65535) + 128) // 257).astype(np.uint8)
    if mode == "1":
        return np.asarray(image.convert("L"))
    if mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return rgb_to_luma(np.asarray(image))
