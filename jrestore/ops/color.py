"""RGB <-> YCbCr conversions of the papers' evaluation code, on [0, 1] images (NHWC).

Three different "Y"s are in use, and PSNR moves by up to 1.3 dB between them (docs/conventions.md §10):
- MATLAB `rgb2ycbcr` (BT.601 studio range, Y in [16, 235] / 255): SelfExSR, KAIR, BasicSR.
- OpenCV `cvtColor(BGR2YCrCb)` (JPEG full range, Y = 0.299 R + 0.587 G + 0.114 B): ISTA-Net's test script.
  OpenCV's uint8 path is 14-bit fixed point (`rgb_to_y_opencv_uint8`); rounding the float formula instead
  hits exact .5 ties on 1 in 1000 uint8 colour triples, which float rounding then decides either way.
- yjn870 FSRCNN-pytorch `convert_rgb_to_y` (its own 256-denominator weights).

The constants are NumPy arrays defined here once; torch_ref.ops.color imports them. Every output is on the
[0, 1] scale (divide OpenCV's / MATLAB's 0..255 values by 255). Channel sums are written out term by term
(no matmul), so no TF32/bf16 matmul precision applies and both frameworks add in the same order.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jrestore._validate import check_image
from jrestore.core.ops.color import (  # noqa: F401  framework-neutral part, shared with torch_ref
    MATLAB_RGB_TO_YCBCR, MATLAB_YCBCR_OFFSET, MATLAB_YCBCR_TO_RGB, OPENCV_CB_SCALE, OPENCV_CR_SCALE,
    OPENCV_DELTA, OPENCV_Y_FIXED, OPENCV_Y_SHIFT, OPENCV_Y_WEIGHTS, YJN870_Y_OFFSET, YJN870_Y_WEIGHTS)

__all__ = [
    "MATLAB_RGB_TO_YCBCR", "MATLAB_YCBCR_OFFSET", "MATLAB_YCBCR_TO_RGB", "OPENCV_Y_WEIGHTS", "OPENCV_CR_SCALE",
    "OPENCV_CB_SCALE", "OPENCV_DELTA", "OPENCV_Y_FIXED", "OPENCV_Y_SHIFT", "YJN870_Y_WEIGHTS", "YJN870_Y_OFFSET",
    "rgb_to_ycbcr_matlab", "ycbcr_to_rgb_matlab", "rgb_to_y_matlab",
    "rgb_to_ycrcb_opencv", "ycrcb_to_rgb_opencv", "rgb_to_y_opencv", "rgb_to_y_opencv_uint8", "rgb_to_y_yjn870",
]


def _rgb(x, name="x"):
    check_image(x, name, channels=3)
    return x[..., 0], x[..., 1], x[..., 2]


def _combine(row, c0, c1, c2):
    a, b, c = (float(v) for v in row)  # Python floats keep the input dtype (weak typing)
    return a * c0 + b * c1 + c * c2


def rgb_to_ycbcr_matlab(x: jnp.ndarray) -> jnp.ndarray:
    """MATLAB rgb2ycbcr for double input. x: [B, H, W, 3] RGB in [0, 1] -> [B, H, W, 3] YCbCr / 255."""
    r, g, b = _rgb(x)
    out = [(float(o) + _combine(m, r, g, b)) / 255.0 for m, o in zip(MATLAB_RGB_TO_YCBCR, MATLAB_YCBCR_OFFSET)]
    return jnp.stack(out, axis=-1)


def ycbcr_to_rgb_matlab(x: jnp.ndarray) -> jnp.ndarray:
    """Exact inverse of rgb_to_ycbcr_matlab. x: [B, H, W, 3] YCbCr / 255 -> [B, H, W, 3] RGB (unclipped)."""
    y, cb, cr = _rgb(x)
    y, cb, cr = (v * 255.0 - float(o) for v, o in zip((y, cb, cr), MATLAB_YCBCR_OFFSET))
    return jnp.stack([_combine(m, y, cb, cr) for m in MATLAB_YCBCR_TO_RGB], axis=-1)


def rgb_to_y_matlab(x: jnp.ndarray) -> jnp.ndarray:
    """Y of MATLAB rgb2ycbcr, not rounded. x: [B, H, W, 3] in [0, 1] -> [B, H, W, 1] in [16/255, 235/255]."""
    r, g, b = _rgb(x)
    return ((float(MATLAB_YCBCR_OFFSET[0]) + _combine(MATLAB_RGB_TO_YCBCR[0], r, g, b)) / 255.0)[..., None]


def rgb_to_ycrcb_opencv(x: jnp.ndarray) -> jnp.ndarray:
    """OpenCV RGB2YCrCb (float path). x: [B, H, W, 3] RGB in [0, 1] -> [B, H, W, 3] in order Y, Cr, Cb."""
    r, g, b = _rgb(x)
    y = _combine(OPENCV_Y_WEIGHTS, r, g, b)
    return jnp.stack([y, (r - y) * OPENCV_CR_SCALE + OPENCV_DELTA, (b - y) * OPENCV_CB_SCALE + OPENCV_DELTA], -1)


def ycrcb_to_rgb_opencv(x: jnp.ndarray) -> jnp.ndarray:
    """Exact inverse of rgb_to_ycrcb_opencv. x: [B, H, W, 3] (Y, Cr, Cb) -> [B, H, W, 3] RGB (unclipped).

    OpenCV's own YCrCb2RGB uses rounded coefficients (1.403, -0.714, -0.344, 1.773) and is not an exact
    inverse (about 1e-3 off); this one is, to float rounding.
    """
    y, cr, cb = _rgb(x)
    r = y + (cr - OPENCV_DELTA) / OPENCV_CR_SCALE
    b = y + (cb - OPENCV_DELTA) / OPENCV_CB_SCALE
    wr, wg, wb = (float(v) for v in OPENCV_Y_WEIGHTS)
    g = (y - wr * r - wb * b) / wg
    return jnp.stack([r, g, b], axis=-1)


def rgb_to_y_opencv(x: jnp.ndarray) -> jnp.ndarray:
    """Y = 0.299 R + 0.587 G + 0.114 B, not rounded. x: [B, H, W, 3] in [0, 1] -> [B, H, W, 1]."""
    r, g, b = _rgb(x)
    return _combine(OPENCV_Y_WEIGHTS, r, g, b)[..., None]


def rgb_to_y_opencv_uint8(x: jnp.ndarray) -> jnp.ndarray:
    """Y of cv2.cvtColor on uint8 RGB: x is clipped and rounded to the uint8 grid (what uint8 storage does),
    then Y = (4899 R + 9617 G + 1868 B + 8192) >> 14. All terms are integers below 2^24, so this is exact,
    tie-free and identical in float32 and float64. x: [B, H, W, 3] in [0, 1] -> [B, H, W, 1] on k / 255.
    """
    r, g, b = (jnp.round(jnp.clip(c, 0.0, 1.0) * 255.0) for c in _rgb(x))
    y = jnp.floor((_combine(OPENCV_Y_FIXED, r, g, b) + 2.0 ** (OPENCV_Y_SHIFT - 1)) / 2.0 ** OPENCV_Y_SHIFT)
    return (y / 255.0)[..., None]


def rgb_to_y_yjn870(x: jnp.ndarray) -> jnp.ndarray:
    """yjn870 FSRCNN-pytorch Y: 16 + (64.738 R + 129.057 G + 25.064 B) / 256 on 0..255 values, then / 255.

    x: [B, H, W, 3] RGB in [0, 1] -> [B, H, W, 1], not rounded (that repository keeps float Y).
    """
    r, g, b = _rgb(x)
    y = YJN870_Y_OFFSET + _combine(YJN870_Y_WEIGHTS, r * 255.0, g * 255.0, b * 255.0) / 256.0
    return (y / 255.0)[..., None]
