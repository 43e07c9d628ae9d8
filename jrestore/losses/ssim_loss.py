"""SSIM losses: 1 - SSIM, and the mixed SSIM + L1 loss of Zhao et al.

`ssim_loss` is jrestore.metrics.ssim with its knobs fixed for training: the 11x11 Gaussian window
(sigma 1.5, population covariances, 'valid' filtering: BasicSR / MATLAB ssim_index), data_range 1, no
quantisation, no Y conversion, no crop. It is the metric's own code path (one definition of the window and
the filtering), so 1 - ssim_loss is exactly ssim(pred, target) with these knobs; every step is
differentiable. Unlike the
pytorch-ssim style losses, the border is not zero-padded ('valid' map), so H, W >= 11.

`mixed_l1_ssim_loss` follows H. Zhao, O. Gallo, I. Frosio, J. Kautz, "Loss Functions for Image Restoration
with Neural Networks", IEEE TCI 2017, whose mixed loss is L_mix = alpha * L_MS-SSIM + (1 - alpha) * G . L_l1
with alpha = 0.84: alpha weights the *SSIM* term and 1 - alpha the L1 term (not the other way round, as
some summaries have it). Here that weight is called `ssim_weight` so that it cannot be misread.
Simplifications against the paper, which uses MS-SSIM (5 scales) and an L1 map weighted by the Gaussian of
the last scale (G): single-scale SSIM (the metric above) and the plain mean L1.

Shapes: pred, target: [B, H, W, C] float32 in [0, 1], H, W >= 11. reduction over the batch of per-image
losses: 'mean' (default) | 'sum' | 'none' ([B]).
"""
from __future__ import annotations

import jax.numpy as jnp

from jrestore._validate import check_image
from jrestore.losses.pixel import abs_torch_grad, check_reduction
from jrestore.metrics.ssim import ssim, ssim_window
from jrestore.core.losses.ssim_loss import (  # noqa: F401  framework-neutral part, shared with torch_ref
    TRAINING_SSIM_KNOBS, WINDOW_SIZE, check_ssim_loss_args)

__all__ = ["ssim_loss", "mixed_l1_ssim_loss", "TRAINING_SSIM_KNOBS", "check_ssim_loss_args"]


def _reduce(per_image, reduction):
    if reduction == "none":
        return per_image
    return jnp.sum(per_image) if reduction == "sum" else jnp.mean(per_image)


def ssim_loss(pred, target, reduction: str = "mean"):
    """1 - SSIM per image (Gaussian 11x11, data_range 1), reduced over the batch.

    pred, target: [B, H, W, C] float32 in [0, 1], H, W >= 11. Returns a scalar, or [B] for reduction='none'.
    """
    check_ssim_loss_args(pred, target, reduction)
    return _reduce(1.0 - ssim(pred, target, **TRAINING_SSIM_KNOBS), reduction)


def mixed_l1_ssim_loss(pred, target, ssim_weight: float = 0.84, reduction: str = "mean"):
    """ssim_weight * (1 - SSIM) + (1 - ssim_weight) * L1 per image (Zhao et al. 2017, alpha = 0.84), reduced.

    pred, target: [B, H, W, C] float32 in [0, 1], H, W >= 11. L1 is the mean |pred - target| of each image.
    Returns a scalar, or [B] for reduction='none'.
    """
    check_ssim_loss_args(pred, target, reduction, ssim_weight=ssim_weight)
    l1 = jnp.mean(abs_torch_grad(pred - target), axis=(1, 2, 3))
    d_ssim = 1.0 - ssim(pred, target, **TRAINING_SSIM_KNOBS)
    return _reduce(ssim_weight * d_ssim + (1.0 - ssim_weight) * l1, reduction)
