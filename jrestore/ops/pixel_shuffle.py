"""Pixel shuffle (sub-pixel convolution, Shi et al. 2016) in PyTorch's channel order, on NHWC arrays.

Parity notes (docs/conventions.md §3): PyTorch's order is out[n, c, h*r + i, w*r + j] =
in[n, c*r*r + i*r + j, h, w], i.e. the input channel index is (c, i, j) with the output channel outermost.
TensorFlow's depth_to_space (and einops '(r1 r2 c)') uses (i, j, c), which is a different layer: PyTorch
weights feeding a TF-order shuffle give wrong images without error.
"""
from __future__ import annotations

import jax

from jrestore._validate import check_divisible, check_image
from jrestore.core.ops.pixel_shuffle import (  # noqa: F401  framework-neutral part, shared with torch_ref
    check_factor)

__all__ = ["pixel_shuffle", "pixel_unshuffle", "check_factor"]


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
    """Depth to space, as torch.nn.functional.pixel_shuffle.

    Args:
      x: [B, H, W, C * r * r] float.
      r: upscale factor (positive int).
    Returns:
      [B, H * r, W * r, C].
    """
    check_factor(r)
    check_image(x, "x")
    n, h, w, crr = x.shape
    check_divisible(crr, f"x channels (pixel_shuffle r={r} needs r*r | C)", r * r)
    c = crr // (r * r)
    return x.reshape(n, h, w, c, r, r).transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, c)


def pixel_unshuffle(x: jax.Array, r: int) -> jax.Array:
    """Space to depth, the inverse of `pixel_shuffle` (torch.nn.functional.pixel_unshuffle).

    Args:
      x: [B, H * r, W * r, C] float.
      r: downscale factor (positive int).
    Returns:
      [B, H, W, C * r * r], channel index c*r*r + i*r + j.
    """
    check_factor(r)
    check_image(x, "x", multiple_of=r)
    n, hr, wr, c = x.shape
    h, w = hr // r, wr // r
    return x.reshape(n, h, r, w, r, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h, w, c * r * r)
