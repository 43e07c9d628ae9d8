"""The framework-neutral part of jrestore.layers.upsample: its argument checks, constants and NumPy helpers.

Shared by jrestore.layers.upsample and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import math

__all__ = ["check_upsampler_scale"]


def check_upsampler_scale(scale) -> list[int]:
    """The per-stage shuffle factors for `scale`: [2] * n for 2^n, [3] for 3; ValueError otherwise."""
    if not isinstance(scale, bool) and isinstance(scale, int):
        if scale >= 2 and scale & (scale - 1) == 0:
            return [2] * int(math.log2(scale))
        if scale == 3:
            return [3]
    raise ValueError(f"scale: expected 3 or a power of 2 (2, 4, 8, ...), got {scale!r}")
