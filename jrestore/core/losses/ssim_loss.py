"""The framework-neutral part of jrestore.losses.ssim_loss: its argument checks, constants and NumPy helpers.

Shared by jrestore.losses.ssim_loss and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_image
from jrestore.core.losses.pixel import check_reduction
from jrestore.core.metrics.ssim import ssim_window

__all__ = ["TRAINING_SSIM_KNOBS", "WINDOW_SIZE", "check_ssim_loss_args"]


# the metric's knobs, fixed for training (no rounding: it would stop the gradient)
TRAINING_SSIM_KNOBS = dict(data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None,
                           variant="gaussian")


WINDOW_SIZE = len(ssim_window("gaussian")[0])  # 11


def check_ssim_loss_args(pred, target, reduction, layout: str = "NHWC", ssim_weight: float | None = None) -> None:
    check_reduction(reduction)
    check_image(pred, "pred", layout=layout, min_size=WINDOW_SIZE)
    check_image(target, "target", layout=layout)
    if tuple(target.shape) != tuple(pred.shape):
        raise ValueError(f"target: expected the shape of pred {tuple(pred.shape)}, got {tuple(target.shape)}")
    if ssim_weight is not None and (isinstance(ssim_weight, bool) or not isinstance(ssim_weight, (int, float))
                                    or not 0.0 <= ssim_weight <= 1.0):
        raise ValueError(f"ssim_weight: expected a number in [0, 1] (Zhao et al.: 0.84), got {ssim_weight!r}")
