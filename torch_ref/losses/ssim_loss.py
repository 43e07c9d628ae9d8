"""Twin of jrestore.losses.ssim_loss on NCHW tensors: 1 - SSIM and Zhao et al.'s mixed SSIM + L1 loss.

Built on torch_ref.metrics.ssim with jrestore's TRAINING_SSIM_KNOBS (one window, one set of knobs); see
jrestore.losses.ssim_loss for the numerics and the meaning of `ssim_weight` (alpha = 0.84 weights SSIM).
"""
from __future__ import annotations

import torch

from jrestore.core.losses.ssim_loss import TRAINING_SSIM_KNOBS, check_ssim_loss_args
from torch_ref.metrics.ssim import ssim

__all__ = ["ssim_loss", "mixed_l1_ssim_loss"]


def _reduce(per_image, reduction):
    if reduction == "none":
        return per_image
    return per_image.sum() if reduction == "sum" else per_image.mean()


def ssim_loss(pred, target, reduction: str = "mean"):
    """1 - SSIM per image (Gaussian 11x11, data_range 1), reduced. pred, target: [B, C, H, W] float32, H, W >= 11."""
    check_ssim_loss_args(pred, target, reduction, layout="NCHW")
    return _reduce(1.0 - ssim(pred, target, **TRAINING_SSIM_KNOBS), reduction)


def mixed_l1_ssim_loss(pred, target, ssim_weight: float = 0.84, reduction: str = "mean"):
    """ssim_weight * (1 - SSIM) + (1 - ssim_weight) * L1 per image, reduced. pred, target: [B, C, H, W] float32."""
    check_ssim_loss_args(pred, target, reduction, layout="NCHW", ssim_weight=ssim_weight)
    l1 = torch.mean(torch.abs(pred - target), dim=(1, 2, 3))
    d_ssim = 1.0 - ssim(pred, target, **TRAINING_SSIM_KNOBS)
    return _reduce(ssim_weight * d_ssim + (1.0 - ssim_weight) * l1, reduction)
