"""Overlapping-tile inference: restore an image of any size with bounded memory and the untiled numbers.

Each window is the tile plus `halo` input pixels of context on every side; only the window's core (the
part at least `halo` pixels from any cut) is kept. When `halo` covers the network's receptive radius, every
kept pixel saw exactly the context it sees in a whole-image pass, so the result equals the untiled one up
to float reordering. All windows have one size (the last ones are shifted inward rather than shrunk), so a
jitted network compiles once. Offsets are multiples of `align` (pooling and pixel-unshuffle networks are
equivariant only to such shifts). Framework-free: `fn` is any NumPy-in, NumPy-out function.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["tiled_apply", "window_starts", "pad_to_multiple"]


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """x [H, W, C] edge-padded at the bottom and right to multiples of `multiple` (unchanged if already)."""
    h, w = x.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    return np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else x


def window_starts(length: int, window: int, halo: int, align: int = 1) -> list[int]:
    """Start offsets of equal windows covering [0, length) so that every position lies in some window's core.

    The core of a window [s, s + window) is [s + halo, s + window - halo), widened to the image edge where
    the window touches it. Needs window > 2 * halo (a core) unless one window covers everything.
    """
    if window >= length:
        return [0]
    core = window - 2 * halo
    if core < align:
        raise ValueError(f"tile: a window of {window} pixels leaves no core beside a halo of {halo} on each side; "
                         f"use a tile of at least {2 * halo + align}")
    step = core - core % align
    last = (length - window) - (length - window) % align  # aligned, and the window still fits
    starts = list(range(0, last, step)) + [last]
    # the final window must reach the end: length - last <= window holds when length - window < align
    if length - last > window:
        raise ValueError(f"tile: length {length} is not a multiple of align={align}; pad the image first")
    return sorted(set(starts))


def _spans(length: int, window: int, halo: int, align: int):
    """(window start, core start, core end) per window, cores tiling [0, length) without gaps."""
    starts = window_starts(length, window, halo, align)
    spans, covered = [], 0
    for i, s in enumerate(starts):
        end = length if i == len(starts) - 1 else s + window - halo
        spans.append((s, covered, end))
        covered = end
    return spans


def tiled_apply(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, *, tile: int, halo: int, scale: int = 1,
                align: int = 1, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """fn over overlapping windows of x [H, W, C]; returns [H*scale, W*scale, C'] assembled from the cores.

    Args:
      fn: [h, w, C] -> [h*scale, w*scale, C'] (NumPy in and out).
      tile: core size in input pixels (the window is tile + 2 * halo, at most the image).
      halo: input pixels of context per side.
      progress: called with the number of windows done after each one.
    """
    h, w = x.shape[:2]
    window = tile + 2 * halo
    window -= window % align  # with H, W multiples of align, every start can then be aligned
    wh, ww = min(window, h), min(window, w)
    rows, cols = _spans(h, wh, halo, align), _spans(w, ww, halo, align)
    out = None
    done = 0
    for r0, rc0, rc1 in rows:
        for c0, cc0, cc1 in cols:
            y = np.asarray(fn(x[r0:r0 + wh, c0:c0 + ww]))
            if out is None:
                out = np.empty((h * scale, w * scale, y.shape[2]), y.dtype)
            s = scale
            out[rc0 * s:rc1 * s, cc0 * s:cc1 * s] = y[(rc0 - r0) * s:(rc1 - r0) * s, (cc0 - c0) * s:(cc1 - c0) * s]
            done += 1
            if progress is not None:
                progress(done)
    return out
