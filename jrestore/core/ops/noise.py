"""The framework-neutral part of jrestore.ops.noise: its argument checks, constants and NumPy helpers.

Shared by jrestore.ops.noise and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import numpy as np

__all__ = ["check_fraction", "check_non_negative", "numpy_legacy_gaussian_noise"]


def check_fraction(value, name: str) -> None:
    """ValueError unless a Python number lies in [0, 1] (traced values pass unchecked)."""
    if isinstance(value, (int, float)) and not 0 <= value <= 1:
        raise ValueError(f"{name}: expected a value in [0, 1], got {value!r}")


def check_non_negative(value, name: str, strict: bool = False) -> None:
    if isinstance(value, (int, float)) and not (value > 0 if strict else value >= 0):
        raise ValueError(f"{name}: expected a {'positive' if strict else 'non-negative'} value, got {value!r}")


def numpy_legacy_gaussian_noise(shape, sigma: float, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """KAIR's DnCNN test noise: `np.random.seed(seed); np.random.normal(0, sigma / 255., shape)`.

    Drawn from a private RandomState(seed), which gives the same values as the seeded global legacy RNG
    without touching the global state. KAIR seeds once per image and adds the float64 noise in place to a
    float32 image: `x + noise` here can differ from that by 1 ulp; pass dtype=np.float64 and cast the sum
    to float32 to reproduce it exactly.
    Args:
      shape: the image shape, e.g. (H, W, C) as KAIR's HWC image.
    Returns:
      `shape` array of `dtype`.
    """
    check_non_negative(sigma, "sigma")
    return np.random.RandomState(seed).normal(0, sigma / 255.0, shape).astype(dtype)
