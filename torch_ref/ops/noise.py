"""Twin of jrestore.ops.noise: a torch.Generator replaces the JAX key. Streams differ from JAX's; the
KAIR test-protocol noise is jrestore's NumPy `numpy_legacy_gaussian_noise` (one definition)."""
from __future__ import annotations

import torch

from jrestore._validate import check_float
from jrestore.core.ops.noise import check_fraction, check_non_negative, numpy_legacy_gaussian_noise

__all__ = ["add_gaussian_noise", "add_poisson_noise", "add_salt_and_pepper", "numpy_legacy_gaussian_noise"]


def add_gaussian_noise(generator: torch.Generator, x: torch.Tensor, sigma) -> torch.Tensor:
    """x + N(0, 1) * sigma / 255, not clipped. x: any shape, float; sigma on the 0-255 scale."""
    check_float(x, "x")
    check_non_negative(sigma, "sigma")
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + noise * (sigma / 255.0)


def add_poisson_noise(generator: torch.Generator, x: torch.Tensor, peak) -> torch.Tensor:
    """Poisson(x * peak) / peak (negative x counts as 0). x: any shape, float; peak > 0."""
    check_float(x, "x")
    check_non_negative(peak, "peak", strict=True)
    return torch.poisson(torch.clamp(x, min=0) * peak, generator=generator) / peak


def add_salt_and_pepper(generator: torch.Generator, x: torch.Tensor, amount, salt_vs_pepper=0.5) -> torch.Tensor:
    """Each element becomes 1 or 0 with probability amount (1 with probability salt_vs_pepper)."""
    check_float(x, "x")
    check_fraction(amount, "amount")
    check_fraction(salt_vs_pepper, "salt_vs_pepper")
    hit = torch.rand(x.shape, generator=generator, device=x.device) < amount
    salt = torch.rand(x.shape, generator=generator, device=x.device) < salt_vs_pepper
    return torch.where(hit, salt.to(x.dtype), x)
