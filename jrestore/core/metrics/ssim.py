"""The framework-neutral part of jrestore.metrics.ssim: its argument checks, constants and NumPy helpers.

Shared by jrestore.metrics.ssim and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import numpy as np

__all__ = ["K1", "K2", "ssim_window"]


K1, K2 = 0.01, 0.03


def ssim_window(variant: str) -> tuple[np.ndarray, float]:
    """The separable 1-D window (float64) and the covariance normalisation of `variant`."""
    if variant == "gaussian":
        t = np.arange(11) - 5.0
        w = np.exp(-t * t / (2 * 1.5 ** 2))  # as cv2.getGaussianKernel(11, 1.5)
        return w / w.sum(), 1.0
    return np.full(7, 1.0 / 7.0), 49.0 / 48.0  # skimage: uniform_filter(size=7), use_sample_covariance
