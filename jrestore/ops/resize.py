"""Resizing, as three named bicubics (plus bilinear / nearest), each matching one reference exactly.

| function              | matches                                           | kernel, edges                       |
|-----------------------|---------------------------------------------------|-------------------------------------|
| imresize_matlab       | MATLAB imresize(..., 'bicubic') (benchmark LR/SR) | Keys a=-0.5, antialias on downscale, symmetric edges |
| resize_bicubic_torch  | F.interpolate(mode='bicubic', align_corners=False)| a=-0.75, no antialias, clamped edges |
| resize_bicubic_pil    | PIL float BICUBIC / F.interpolate(antialias=True) | a=-0.5, antialias on downscale, weights renormalised at edges |

imresize_matlab builds MATLAB's contribution matrices in NumPy float64 on the host (cached per size and
scale) and applies them with HIGHEST-precision einsums, height first, as MATLAB does for equal scales.
Its coordinate map uses the *scale* (u = x / scale + (1 - 1 / scale) / 2), not out/in, and the output is
ceil(in * scale): give modcropped inputs so both mean the same. torch_ref.ops.resize reuses the matrices.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jrestore._validate import check_image, check_positive

__all__ = ["imresize_matlab", "resize_bicubic_torch", "resize_bicubic_pil", "resize_bilinear_torch",
           "resize_nearest_exact", "quantize_uint8", "matlab_weights", "resolve_size"]

HIGHEST = jax.lax.Precision.HIGHEST


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax ** 2, ax ** 3
    return (((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1)
            + (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2)))


@functools.lru_cache(maxsize=256)
def matlab_weights(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """MATLAB imresize's bicubic contributions as a dense float64 matrix [out_len, in_len].

    Follows imresize.m's contributions(): kernel width 4 (4 / scale when shrinking with antialiasing),
    u = x / scale + 0.5 * (1 - 1 / scale) for 1-based x, weights normalised to sum 1, and out-of-range
    taps mirrored symmetrically (edge pixel repeated): aux = [1..n, n..1], index = aux(mod(i - 1, 2n) + 1).
    """
    shrink = scale < 1 and antialias
    width = 4.0 / scale if shrink else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based
    dist = u[:, None] - idx
    w = scale * _cubic(dist * scale) if shrink else _cubic(dist)
    w = w / w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len))
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), cols.ravel()), w.ravel())
    return mat


def _out_len(n: int, s: float) -> int:
    v = n * s
    return int(round(v)) if abs(v - round(v)) < 1e-6 else int(math.ceil(v))  # 510 * (1/3) is 170, not 171


def resolve_size(in_hw: tuple[int, int], scale=None, size=None) -> tuple[tuple[int, int], tuple[float, float]]:
    """((out_h, out_w), (scale_h, scale_w)) from exactly one of `scale` (number or pair) and `size` (pair)."""
    if (scale is None) == (size is None):
        raise ValueError(f"scale/size: give exactly one of them, got scale={scale!r}, size={size!r}")
    if size is not None:
        if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
            raise ValueError(f"size: expected a pair of positive ints (height, width), got {size!r}")
        size = (int(size[0]), int(size[1]))
        return size, (size[0] / in_hw[0], size[1] / in_hw[1])
    scales = (scale, scale) if np.ndim(scale) == 0 else tuple(scale)
    if len(scales) != 2:
        raise ValueError(f"scale: expected a number or a pair, got {scale!r}")
    for s in scales:
        check_positive(s, "scale")
    return (_out_len(in_hw[0], scales[0]), _out_len(in_hw[1], scales[1])), (float(scales[0]), float(scales[1]))


def _hw(x, layout: str = "NHWC") -> tuple[int, int]:
    check_image(x, "x", layout=layout, rank=(3, 4))
    return (x.shape[-3], x.shape[-2]) if layout == "NHWC" else (x.shape[-2], x.shape[-1])


def imresize_matlab(x: jax.Array, scale=None, size=None, antialias: bool = True) -> jax.Array:
    """MATLAB-compatible bicubic imresize.

    x: [B, H, W, C] or [H, W, C] float. scale: number or (sh, sw); or size: (out_h, out_w).
    Returns float32 (not rounded; see quantize_uint8 for MATLAB's uint8 output).
    """
    (h, w) = _hw(x)
    (oh, ow), (sh, sw) = resolve_size((h, w), scale, size)
    wh = jnp.asarray(matlab_weights(h, oh, sh, antialias), dtype=jnp.float32)
    ww = jnp.asarray(matlab_weights(w, ow, sw, antialias), dtype=jnp.float32)
    y = jnp.einsum("oh,...hwc->...owc", wh, x, precision=HIGHEST)
    return jnp.einsum("pw,...owc->...opc", ww, y, precision=HIGHEST)


def _jax_resize(x, scale, size, method: str, antialias: bool):
    (h, w) = _hw(x)
    if scale is not None and size is None:  # F.interpolate(scale_factor=s): floor(in * s)
        sh, sw = (scale, scale) if np.ndim(scale) == 0 else tuple(scale)
        check_positive(sh, "scale"), check_positive(sw, "scale")
        size = (int(math.floor(h * sh)), int(math.floor(w * sw)))
    (oh, ow), _ = resolve_size((h, w), None, size)
    shape = (*x.shape[:-3], oh, ow, x.shape[-1])
    return jax.image.resize(x, shape, method=method, antialias=antialias, precision=HIGHEST)


def resize_bicubic_torch(x: jax.Array, size=None, scale=None) -> jax.Array:
    """PyTorch's default bicubic: F.interpolate(mode='bicubic', align_corners=False), a=-0.75, clamped edges.

    With `scale`, the output is floor(in * scale) and the map uses out/in, which equals PyTorch's
    scale_factor mapping for integer up-scaling; for other ratios pass `size`.
    """
    return _jax_resize(x, scale, size, "bicubic-pytorch", antialias=False)


def resize_bicubic_pil(x: jax.Array, size=None, scale=None) -> jax.Array:
    """PIL's float BICUBIC (= F.interpolate(mode='bicubic', antialias=True)): a=-0.5, antialias on downscale."""
    return _jax_resize(x, scale, size, "bicubic", antialias=True)


def resize_bilinear_torch(x: jax.Array, size=None, scale=None) -> jax.Array:
    """F.interpolate(mode='bilinear', align_corners=False): no antialias."""
    return _jax_resize(x, scale, size, "bilinear", antialias=False)


def resize_nearest_exact(x: jax.Array, size=None, scale=None) -> jax.Array:
    """F.interpolate(mode='nearest-exact') (half-pixel centres; PyTorch's 'nearest' differs for non-integer ratios)."""
    return _jax_resize(x, scale, size, "nearest", antialias=False)


def quantize_uint8(x: jax.Array) -> jax.Array:
    """round(clip(x, 0, 1) * 255) / 255: the value MATLAB's uint8 output (imwrite) stores, as float in [0, 1].

    Rounding is half-to-even (MATLAB: half away from zero); they differ only on exact .5 ties.
    """
    return jnp.round(jnp.clip(x, 0.0, 1.0) * 255.0) / 255.0
