"""Pixel losses: L1, MSE, Charbonnier, with BasicSR's per-pixel weight and reduction.

Reference: XPixelGroup/BasicSR `basicsr/losses/basic_loss.py` (`l1_loss`, `mse_loss`, `charbonnier_loss`)
decorated by `basicsr/losses/loss_util.py` `weighted_loss` / `weight_reduce_loss`; same names, argument
order (pred, target, weight=None, reduction='mean', eps=...) and numerics:

- 'none': the elementwise loss (times weight); 'sum': its sum; 'mean': its mean, or with a weight,
  sum(loss * weight) / sum(weight) over the weight's support: weight.sum() when it has C channels,
  weight.sum() * C when it has one (broadcast over the channels).
- Charbonnier: sqrt((pred - target)^2 + eps) with eps = 1e-12 added *inside* the root (LapSRN's
  sqrt(x^2 + eps^2) with BasicSR's eps), so the loss never reaches 0 (it is 1e-6 per pixel at a perfect fit).
- BasicSR's loss classes multiply by `loss_weight`; these are the bare functions (scale the result).
- |d| is written d * sign(d): PyTorch's L1 gradient at d = 0 is 0, jnp.abs's is 1 (`abs_torch_grad`).

Shapes: pred, target: any shape, typically [B, H, W, C] float32; weight: the same rank, the same shape except
that the channel axis (last here, axis 1 in torch_ref) may be 1. Pure functions: jit-able and differentiable.
"""
from __future__ import annotations

import jax.numpy as jnp

from jrestore._validate import channel_axis, check_choice, check_float, check_positive
from jrestore.core.losses.pixel import (  # noqa: F401  framework-neutral part, shared with torch_ref
    REDUCTIONS, check_pixel_args, check_reduction)

__all__ = ["l1_loss", "mse_loss", "charbonnier_loss", "REDUCTIONS", "check_reduction", "check_pixel_args",
           "abs_torch_grad"]


# ---- reduction ----

def weight_reduce_loss(loss, weight=None, reduction: str = "mean"):
    """BasicSR's weight_reduce_loss on an elementwise loss [..., C] (channel axis last)."""
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if weight is None or reduction == "sum":
        return jnp.sum(loss) if reduction == "sum" else jnp.mean(loss)
    # 'mean' with a weight: the mean over the weighted region; a one-channel weight covers every channel
    denom = jnp.sum(weight) if weight.shape[-1] > 1 else jnp.sum(weight) * loss.shape[-1]
    return jnp.sum(loss) / denom


def abs_torch_grad(d):
    """|d| with PyTorch's subgradient 0 at d = 0 (jnp.abs has 1 there): equal pixels, e.g. both clipped to
    1.0, must get no gradient, as in F.l1_loss."""
    return d * jnp.sign(d)


def l1_loss(pred, target, weight=None, reduction: str = "mean"):
    """|pred - target|, weighted and reduced as BasicSR. pred, target: [B, H, W, C] float32 (any shape)."""
    check_pixel_args(pred, target, weight, reduction)
    return weight_reduce_loss(abs_torch_grad(pred - target), weight, reduction)


def mse_loss(pred, target, weight=None, reduction: str = "mean"):
    """(pred - target)^2, weighted and reduced as BasicSR. pred, target: [B, H, W, C] float32 (any shape)."""
    check_pixel_args(pred, target, weight, reduction)
    return weight_reduce_loss(jnp.square(pred - target), weight, reduction)


def charbonnier_loss(pred, target, weight=None, reduction: str = "mean", eps: float = 1e-12):
    """sqrt((pred - target)^2 + eps), weighted and reduced as BasicSR. pred, target: [B, H, W, C] float32.

    eps > 0 keeps the gradient finite at pred == target (BasicSR default 1e-12).
    """
    check_pixel_args(pred, target, weight, reduction)
    check_positive(eps, "eps")
    return weight_reduce_loss(jnp.sqrt(jnp.square(pred - target) + eps), weight, reduction)
