"""The framework-neutral part of jrestore.ops.wiener: its argument checks, constants and NumPy helpers.

Shared by jrestore.ops.wiener and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import math
import sys

import numpy as np

from jrestore._validate import check_positive

__all__ = ["check_psf", "gaussian_psf", "motion_psf"]


def gaussian_psf(size: int, sigma: float) -> np.ndarray:
    """Isotropic Gaussian PSF: [size, size] float64 summing to 1, centred at size // 2 (size odd)."""
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size: expected an odd positive int, got {size!r}")
    check_positive(sigma, "sigma")
    r = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def motion_psf(length: float, angle: float) -> np.ndarray:
    """Linear motion PSF: a line of `length` pixels through the centre, rasterised to nearest pixels.

    Args:
      length: >= 1, in pixels.
      angle: degrees, counter-clockwise from the +x (column) axis; rows grow downwards.
    Returns:
      [s, s] float64 summing to 1, s = 2 * ceil((length - 1) / 2) + 1 (odd), with equal weight on every
      pixel the line's samples round to (angle 0, length 5: a 1x5 box of 1/5 in the middle row).
    """
    if not length >= 1:
        raise ValueError(f"length: expected a value >= 1, got {length!r}")
    half = math.ceil((length - 1) / 2)
    t = np.linspace(-(length - 1) / 2, (length - 1) / 2, 8 * math.ceil(length) + 1)
    theta = math.radians(angle)
    # round half up, so an even-length line keeps `length` pixels (sitting half a pixel off centre)
    rows = np.floor(half - t * math.sin(theta) + 0.5).astype(int)
    cols = np.floor(half + t * math.cos(theta) + 0.5).astype(int)
    k = np.zeros((2 * half + 1, 2 * half + 1))
    k[rows, cols] = 1.0
    return k / k.sum()


def check_psf(psf, height: int, width: int) -> None:
    """ValueError unless psf is 2-D, no larger than height x width, and (when concrete) sums to > 0."""
    shape = tuple(getattr(psf, "shape", np.shape(psf)))
    if len(shape) != 2:
        raise ValueError(f"psf: expected a 2-D [kh, kw] kernel, got shape {shape}")
    if shape[0] > height or shape[1] > width:
        raise ValueError(f"psf: expected a kernel no larger than the image {height}x{width}, got {shape[0]}x{shape[1]}")
    jax = sys.modules.get("jax")  # a tracer exists only once JAX is loaded; never import it from here
    if jax is None or not isinstance(psf, jax.core.Tracer):
        values = psf.detach().cpu() if hasattr(psf, "detach") else psf  # a torch tensor from torch_ref
        total = float(np.sum(np.asarray(values, dtype=np.float64)))
        if not total > 0:
            raise ValueError(f"psf: expected a positive sum, got {total}")


def _check_k(k) -> None:
    if isinstance(k, (int, float)):
        check_positive(k, "k", strict=False)
