"""Noise synthesis with explicit randomness (a JAX PRNG key; torch_ref takes a torch.Generator).

Random streams cannot match across frameworks: parity is statistical. The KAIR/DnCNN *test* protocol
noise, which must be bit-reproducible, is `numpy_legacy_gaussian_noise` (NumPy, host side), defined here
once for both frameworks.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jrestore._validate import check_float
from jrestore.core.ops.noise import (  # noqa: F401  framework-neutral part, shared with torch_ref
    check_fraction, check_non_negative, numpy_legacy_gaussian_noise)

__all__ = ["add_gaussian_noise", "add_poisson_noise", "add_salt_and_pepper", "numpy_legacy_gaussian_noise"]


def add_gaussian_noise(key: jax.Array, x: jnp.ndarray, sigma) -> jnp.ndarray:
    """x + N(0, 1) * sigma / 255, not clipped (the DnCNN protocol does not clip).

    Args:
      key: JAX PRNG key.
      x: any shape, float in [0, 1].
      sigma: noise standard deviation on the 0-255 scale; scalar or broadcastable (e.g. [B, 1, 1, 1]).
    Returns:
      the shape and dtype of x; sigma = 0 returns x exactly.
    """
    check_float(x, "x")
    check_non_negative(sigma, "sigma")
    return x + jax.random.normal(key, x.shape, x.dtype) * (sigma / 255.0)


def add_poisson_noise(key: jax.Array, x: jnp.ndarray, peak) -> jnp.ndarray:
    """Poisson(x * peak) / peak: shot noise with `peak` photons at intensity 1 (variance x / peak).

    Args:
      key: JAX PRNG key.
      x: any shape, float in [0, 1]; negative values count as 0 (a rate cannot be negative).
      peak: positive scalar.
    Returns:
      the shape and dtype of x, values in {0, 1/peak, 2/peak, ...}.
    """
    check_float(x, "x")
    check_non_negative(peak, "peak", strict=True)
    counts = jax.random.poisson(key, jnp.maximum(x, 0) * peak, x.shape)
    return counts.astype(x.dtype) / peak


def add_salt_and_pepper(key: jax.Array, x: jnp.ndarray, amount, salt_vs_pepper=0.5) -> jnp.ndarray:
    """Replace a fraction `amount` of elements by 1 (salt, probability salt_vs_pepper) or 0 (pepper).

    Each element (each channel of each pixel, as skimage's 's&p') is hit independently.
    Args:
      key: JAX PRNG key.
      x: any shape, float in [0, 1].
      amount: probability in [0, 1] that an element is replaced.
      salt_vs_pepper: probability in [0, 1] that a replaced element becomes 1.
    Returns:
      the shape and dtype of x.
    """
    check_float(x, "x")
    check_fraction(amount, "amount")
    check_fraction(salt_vs_pepper, "salt_vs_pepper")
    k_hit, k_salt = jax.random.split(key)
    hit = jax.random.uniform(k_hit, x.shape) < amount
    salt = jax.random.uniform(k_salt, x.shape) < salt_vs_pepper
    return jnp.where(hit, salt.astype(x.dtype), x)


