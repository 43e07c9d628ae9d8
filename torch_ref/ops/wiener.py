"""Twin of jrestore.ops.wiener on NCHW tensors, with torch.fft (circular blur, centred PSF).

The PSF generators and checks are jrestore's (NumPy, host side); the transforms are torch's own.
"""
from __future__ import annotations

import torch

from jrestore._validate import check_image
from jrestore.core.ops.wiener import _check_k, check_psf, gaussian_psf, motion_psf

__all__ = ["gaussian_psf", "motion_psf", "blur", "wiener_deconvolve", "check_psf"]


def _otf(psf, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """[height, width] complex transfer function of the centred, zero-padded PSF."""
    psf = torch.as_tensor(psf).to(dtype=like.dtype, device=like.device)
    kh, kw = psf.shape
    padded = torch.nn.functional.pad(psf, (0, width - kw, 0, height - kh))
    return torch.fft.fft2(torch.roll(padded, (-(kh // 2), -(kw // 2)), dims=(0, 1)))


def blur(x: torch.Tensor, psf) -> torch.Tensor:
    """Circular convolution per channel. x: [B, C, H, W] float; psf: [kh, kw] -> [B, C, H, W]."""
    check_image(x, "x", layout="NCHW")
    check_psf(psf, x.shape[2], x.shape[3])
    h = _otf(psf, x.shape[2], x.shape[3], x)
    return torch.fft.ifft2(torch.fft.fft2(x) * h).real.to(x.dtype)


def wiener_deconvolve(y: torch.Tensor, psf, k) -> torch.Tensor:
    """X = conj(H) Y / (|H|^2 + k). y: [B, C, H, W] float; psf: [kh, kw]; k: scalar >= 0 -> [B, C, H, W]."""
    check_image(y, "y", layout="NCHW")
    check_psf(psf, y.shape[2], y.shape[3])
    _check_k(k)
    h = _otf(psf, y.shape[2], y.shape[3], y)
    g = torch.conj(h) / (h.real ** 2 + h.imag ** 2 + k)
    return torch.fft.ifft2(torch.fft.fft2(y) * g).real.to(y.dtype)
