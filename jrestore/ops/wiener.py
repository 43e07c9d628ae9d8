"""Frequency-domain Wiener deconvolution under a circular-convolution blur model.

Model: y = x (*) psf, circular, per channel, with the PSF zero-padded to the image size and circularly
shifted so that its centre (floor(kh/2), floor(kw/2)) sits at (0, 0), as MATLAB's psf2otf does; so a
centred PSF does not translate the image. Restoration: X = conj(H) Y / (|H|^2 + k), k the noise-to-signal
power ratio. Parity note: the design sketch (docs/conventions.md §15) padded the PSF without the shift (the
output then moves by the PSF's centre) and returned |ifft|; here the shift is applied and the real part is
returned, which keeps signs (the imaginary part is rounding noise for real inputs).
The PSF generators are NumPy float64 on the host and shared by jrestore and torch_ref.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jrestore._validate import check_image, check_positive
from jrestore.core.ops.wiener import (  # noqa: F401  framework-neutral part, shared with torch_ref
    _check_k, check_psf, gaussian_psf, motion_psf)

__all__ = ["gaussian_psf", "motion_psf", "blur", "wiener_deconvolve", "check_psf"]


def _otf(psf, height: int, width: int, dtype) -> jnp.ndarray:
    """[height, width] complex transfer function of the centred, zero-padded PSF."""
    psf = jnp.asarray(psf, dtype=dtype)
    kh, kw = psf.shape
    padded = jnp.pad(psf, ((0, height - kh), (0, width - kw)))
    return jnp.fft.fft2(jnp.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


def blur(x: jnp.ndarray, psf) -> jnp.ndarray:
    """Circular convolution of each channel with psf.

    Args:
      x: [B, H, W, C] float.
      psf: [kh, kw] with kh <= H, kw <= W (NumPy or jnp); centre at (kh // 2, kw // 2).
    Returns:
      [B, H, W, C], dtype of x.
    """
    check_image(x, "x")
    check_psf(psf, x.shape[1], x.shape[2])
    h = _otf(psf, x.shape[1], x.shape[2], x.dtype)[None, :, :, None]
    return jnp.real(jnp.fft.ifft2(jnp.fft.fft2(x, axes=(1, 2)) * h, axes=(1, 2))).astype(x.dtype)


def wiener_deconvolve(y: jnp.ndarray, psf, k) -> jnp.ndarray:
    """Wiener deconvolution X = conj(H) Y / (|H|^2 + k), per channel.

    Args:
      y: [B, H, W, C] float, blurred image.
      psf: [kh, kw] PSF of the blur (as for `blur`).
      k: noise-to-signal power ratio, a scalar >= 0 (0 is plain inverse filtering).
    Returns:
      [B, H, W, C] restored image, dtype of y (not clipped).
    """
    check_image(y, "y")
    check_psf(psf, y.shape[1], y.shape[2])
    _check_k(k)
    h = _otf(psf, y.shape[1], y.shape[2], y.dtype)[None, :, :, None]
    g = jnp.conj(h) / (jnp.real(h) ** 2 + jnp.imag(h) ** 2 + k)
    return jnp.real(jnp.fft.ifft2(jnp.fft.fft2(y, axes=(1, 2)) * g, axes=(1, 2))).astype(y.dtype)
