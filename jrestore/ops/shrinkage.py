"""Soft thresholding (the proximal operator of the L1 norm), as in ISTA-Net's phases."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jrestore._validate import check_float

__all__ = ["soft_threshold"]


def soft_threshold(x: jnp.ndarray, threshold) -> jnp.ndarray:
    """sign(x) * relu(|x| - threshold); sign(0) = 0, as torch.sign.

    Args:
      x: any shape, float.
      threshold: a scalar or an array broadcastable to x (e.g. ISTA-Net's shape-(1,) `soft_thr`).
    Returns:
      the shape of x broadcast with threshold.
    """
    check_float(x, "x")
    return jnp.sign(x) * jax.nn.relu(jnp.abs(x) - threshold)
