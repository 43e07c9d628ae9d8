"""Twin of jrestore.losses.pixel on NCHW tensors (BasicSR basic_loss.py l1 / mse / charbonnier + weighted_loss).

The checks and reduction names come from jrestore.losses.pixel (one definition); a weight's channel axis is
axis 1 here. See jrestore.losses.pixel for the numerics.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from jrestore._validate import check_positive
from jrestore.core.losses.pixel import REDUCTIONS, check_pixel_args, check_reduction

__all__ = ["l1_loss", "mse_loss", "charbonnier_loss", "REDUCTIONS", "check_reduction"]


def weight_reduce_loss(loss, weight=None, reduction: str = "mean"):
    """BasicSR's weight_reduce_loss on an elementwise loss [B, C, ...] (channel axis 1)."""
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if weight is None or reduction == "sum":
        return loss.sum() if reduction == "sum" else loss.mean()
    denom = weight.sum() if weight.size(1) > 1 else weight.sum() * loss.size(1)
    return loss.sum() / denom


def l1_loss(pred, target, weight=None, reduction: str = "mean"):
    """|pred - target|, weighted and reduced as BasicSR. pred, target: [B, C, H, W] float32 (any shape)."""
    check_pixel_args(pred, target, weight, reduction, layout="NCHW")
    return weight_reduce_loss(F.l1_loss(pred, target, reduction="none"), weight, reduction)


def mse_loss(pred, target, weight=None, reduction: str = "mean"):
    """(pred - target)^2, weighted and reduced as BasicSR. pred, target: [B, C, H, W] float32 (any shape)."""
    check_pixel_args(pred, target, weight, reduction, layout="NCHW")
    return weight_reduce_loss(F.mse_loss(pred, target, reduction="none"), weight, reduction)


def charbonnier_loss(pred, target, weight=None, reduction: str = "mean", eps: float = 1e-12):
    """sqrt((pred - target)^2 + eps), weighted and reduced as BasicSR. pred, target: [B, C, H, W] float32."""
    check_pixel_args(pred, target, weight, reduction, layout="NCHW")
    check_positive(eps, "eps")
    return weight_reduce_loss(torch.sqrt((pred - target) ** 2 + eps), weight, reduction)
