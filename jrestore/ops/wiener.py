"""Frequency-domain Wiener deconvolution under a circular-convolution blur model.

Model: y = x (*) psf, circular, per channel, with the PSF zero-padded to the image size and circularly
shifted so that its centre (floor(kh/2), floor(kw/2)) sits at (0, 0), as MATLAB's psf2otf does; so a
centred PSF does not translate the image. Restoration: X = conj(H) Y / (|H|^2 + k), k the noise-to-signal
power ratio. Parity note: the design sketch padded the PSF without the shift (the output then moves by the
PSF's centre) and returned |ifft|; here the shift is applied and the real part is returned, which keeps
signs (the imaginary part is rounding noise for real inputs).
The PSF generators are NumPy float64 on the host and shared by jrestore and torch_ref.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jrestore._validate import check_image, check_positive

__all__ = ["gaussian_psf", "motion_psf", "blur", "wiener_deconvolve", "check_psf"]


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
    if not isinstance(psf, jax.core.Tracer):
        values = psf.detach().cpu() if hasattr(psf, "detach") else psf  # a torch tensor from torch_ref
        total = float(np.sum(np.asarray(values, dtype=np.float64)))
        if not total > 0:
            raise ValueError(f"psf: expected a positive sum, got {total}")


def _otf(psf, height: int, width: int, dtype) -> jnp.ndarray:
    """[height, width] complex transfer function of the centred, zero-padded PSF."""
    psf = jnp.asarray(psf, dtype=dtype)
    kh, kw = psf.shape
    padded = jnp.pad(psf, ((0, height - kh), (0, width - kw)))
    return jnp.fft.fft2(jnp.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


def _check_k(k) -> None:
    if isinstance(k, (int, float)):
        check_positive(k, "k", strict=False)


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
