"""The framework-neutral part of jrestore.ops.resize: its argument checks, constants and NumPy helpers.

Shared by jrestore.ops.resize and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from jrestore._validate import check_positive

__all__ = ["matlab_weights", "resolve_size", "scale_pair"]


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
    scales = scale_pair(scale)
    return (_out_len(in_hw[0], scales[0]), _out_len(in_hw[1], scales[1])), (float(scales[0]), float(scales[1]))


def scale_pair(scale) -> tuple:
    """(scale_h, scale_w) from a positive number or a pair of them (shared with torch_ref)."""
    scales = (scale, scale) if np.ndim(scale) == 0 else tuple(scale)
    if len(scales) != 2:
        raise ValueError(f"scale: expected a number or a pair, got {scale!r}")
    for s in scales:
        check_positive(s, "scale")
    return scales
