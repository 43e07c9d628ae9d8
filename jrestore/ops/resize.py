"""Resizing, as three named bicubics (plus bilinear / nearest), each matching one reference exactly.

| function              | matches                                           | kernel, edges                       |
|-----------------------|---------------------------------------------------|-------------------------------------|
| imresize_matlab       | MATLAB imresize(..., 'bicubic') (benchmark LR/SR) | Keys a=-0.5, antialias on downscale, symmetric edges |
| resize_bicubic_torch  | F.interpolate(mode='bicubic', align_corners=False)| a=-0.75, no antialias, clamped edges |
| resize_bicubic_pil    | PIL float BICUBIC / F.interpolate(antialias=True) | a=-0.5, antialias on downscale, weights renormalised at edges |
| interpolate_bilinear_torch | F.interpolate(mode='bilinear'), PyTorch's float32 taps | half-pixel, clamped edges, no antialias |

imresize_matlab builds MATLAB's contribution matrices in NumPy float64 on the host (cached per size and
scale) and applies them with HIGHEST-precision einsums, height first, as MATLAB does for equal scales.
Its coordinate map uses the *scale* (u = x / scale + (1 - 1 / scale) / 2), not out/in, and the output is
ceil(in * scale): give modcropped inputs so both mean the same. torch_ref.ops.resize reuses the matrices.

interpolate_bilinear_torch computes PyTorch's source coordinates and weights on the host exactly as ATen does
(float32, scale_factor's 1 / s map when a scale is given) and applies them as two 2-tap gathers, so it matches
F.interpolate to output rounding (<= 2.4e-7 measured); resize_bilinear_torch (jax.image.resize) rounds the
coordinates its own way (at x3: 1.0e-6 apart on 17 px, 1.8e-5 on 333 px) and maps out / in, not 1 / scale,
so with a non-integer `scale` it is not F.interpolate(scale_factor=scale) (0.6 apart at 1.7).
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jrestore._validate import check_image, check_positive
from jrestore.core.ops.resize import (  # noqa: F401  framework-neutral part, shared with torch_ref
    _cubic, _out_len, matlab_weights, resolve_size, scale_pair)

__all__ = ["imresize_matlab", "resize_bicubic_torch", "resize_bicubic_pil", "resize_bilinear_torch",
           "resize_nearest_exact", "interpolate_bilinear_torch", "quantize_uint8", "matlab_weights", "resolve_size",
           "torch_linear_taps"]

HIGHEST = jax.lax.Precision.HIGHEST


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


@functools.lru_cache(maxsize=256)
def torch_linear_taps(in_len: int, out_len: int, scale_factor: float | None = None):
    """PyTorch's linear-interpolation taps along one axis (align_corners=False): (i0, i1, w0, w1), [out_len] each.

    As ATen's UpSample.h: scale = float(1 / scale_factor) when F.interpolate got a scale_factor (without
    recompute_scale_factor), else float(in) / out; src = max(scale * (dst + 0.5) - 0.5, 0) in float32 with one
    rounding (the compiled kernels fuse it into an FMA: the weights below equal PyTorch 2.13's bit for bit,
    while two roundings are up to 1.5e-5 off at x3 on 1000 px); i0 = min(floor(src), in - 1),
    i1 = min(i0 + 1, in - 1); w1 = clamp(src - i0, 0, 1), w0 = 1 - w1 (float32).
    """
    f32 = np.float32
    scale = f32(1.0 / scale_factor) if scale_factor is not None else f32(in_len) / f32(out_len)
    centre = np.arange(out_len, dtype=np.float64) + 0.5
    src = np.maximum((np.float64(scale) * centre - 0.5).astype(f32), f32(0))  # float64 product is exact: one rounding
    i0 = np.minimum(np.floor(src).astype(np.int64), in_len - 1)
    i1 = np.minimum(i0 + 1, in_len - 1)
    w1 = np.clip(src - i0.astype(f32), f32(0), f32(1))
    return i0, i1, (f32(1) - w1).astype(f32), w1.astype(f32)


def _linear_axis(x: jax.Array, axis: int, taps) -> jax.Array:
    i0, i1, w0, w1 = taps
    shape = [1] * x.ndim
    shape[axis] = -1
    return jnp.take(x, i0, axis=axis) * w0.reshape(shape) + jnp.take(x, i1, axis=axis) * w1.reshape(shape)


def interpolate_bilinear_torch(x: jax.Array, size=None, scale=None) -> jax.Array:
    """F.interpolate(x, size=size or scale_factor=scale, mode='bilinear', align_corners=False), PyTorch's numbers.

    x: [B, H, W, C] or [H, W, C] float; give exactly one of size (out_h, out_w) and scale (number or pair).
    With `scale` the output is floor(in * scale) and the map uses 1 / scale, as F.interpolate(scale_factor=...)
    (BasicSR MSRResNet's base); with `size` it uses in / out. Half-pixel centres, clamped edges, no antialias
    (also when shrinking). Width first, then height, each a 2-tap weighted sum in ATen's order.
    Returns [B, out_h, out_w, C] (or [out_h, out_w, C]) in x's dtype.
    """
    (h, w) = _hw(x)
    if (scale is None) == (size is None):
        raise ValueError(f"scale/size: give exactly one of them, got scale={scale!r}, size={size!r}")
    if scale is not None:
        scales = scale_pair(scale)
        (oh, ow), (fh, fw) = (int(math.floor(h * scales[0])), int(math.floor(w * scales[1]))), scales
        if oh < 1 or ow < 1:
            raise ValueError(f"scale: expected an output of at least 1x1, got {oh}x{ow} from {h}x{w} "
                             f"and scale {scale!r}")
    else:
        (oh, ow), _ = resolve_size((h, w), None, size)
        fh = fw = None
    y = _linear_axis(x, x.ndim - 2, torch_linear_taps(w, ow, None if fw is None else float(fw)))
    y = _linear_axis(y, x.ndim - 3, torch_linear_taps(h, oh, None if fh is None else float(fh)))
    return y.astype(x.dtype)


def quantize_uint8(x: jax.Array) -> jax.Array:
    """round(clip(x, 0, 1) * 255) / 255: the value MATLAB's uint8 output (imwrite) stores, as float in [0, 1].

    Rounding is half-to-even (MATLAB: half away from zero); they differ only on exact .5 ties.
    """
    return jnp.round(jnp.clip(x, 0.0, 1.0) * 255.0) / 255.0
