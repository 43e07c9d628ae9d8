"""The framework-neutral part of jrestore.losses.pixel: its argument checks, constants and NumPy helpers.

Shared by jrestore.losses.pixel and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import channel_axis, check_choice, check_float

__all__ = ["REDUCTIONS", "check_pixel_args", "check_reduction"]


REDUCTIONS = ("none", "mean", "sum")  # BasicSR's _reduction_modes


def check_reduction(reduction) -> None:
    check_choice(reduction, "reduction", REDUCTIONS)


def check_pixel_args(pred, target, weight, reduction, layout: str = "NHWC") -> None:
    """pred / target of one floating shape; weight (optional) of pred's rank with 1 or C channels."""
    check_reduction(reduction)
    check_float(pred, "pred")
    check_float(target, "target")
    shape = tuple(pred.shape)
    if tuple(target.shape) != shape:
        raise ValueError(f"target: expected the shape of pred {shape}, got {tuple(target.shape)}")
    if weight is None:
        return
    check_float(weight, "weight")
    w_shape = tuple(weight.shape)
    if len(shape) < 2:
        raise ValueError(f"weight: needs pred with a channel axis (rank >= 2), got pred of shape {shape}")
    axis = channel_axis(layout) % len(shape)
    allowed = {shape, shape[:axis] + (1,) + shape[axis + 1:]}
    if w_shape not in allowed:
        raise ValueError(f"weight: expected shape {shape} or {shape[:axis] + (1,) + shape[axis + 1:]} "
                         f"({layout}, 1 or {shape[axis]} channels), got {w_shape}")
