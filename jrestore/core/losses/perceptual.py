"""The framework-neutral part of jrestore.losses.perceptual: its argument checks, constants and NumPy helpers.

Shared by jrestore.losses.perceptual and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from typing import Mapping

from jrestore._validate import check_choice, check_image
from jrestore.core.models.vgg import VGG_BLOCKS, VGG_LAYERS, tap_index

__all__ = ["CRITERIA", "check_pair", "check_perceptual_args"]


CRITERIA = ("l1", "l2", "fro")


def _is_number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float))


def check_perceptual_args(layer_weights, vgg_type, use_input_norm, range_norm, perceptual_weight, style_weight,
                          criterion) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Validate PerceptualLoss's arguments; returns (tap names, their weights) in the given order."""
    check_choice(vgg_type, "vgg_type", tuple(VGG_BLOCKS))
    check_choice(criterion, "criterion", CRITERIA)
    check_choice(use_input_norm, "use_input_norm", (True, False))
    check_choice(range_norm, "range_norm", (True, False))
    for name, value in (("perceptual_weight", perceptual_weight), ("style_weight", style_weight)):
        if not _is_number(value):
            raise ValueError(f"{name}: expected a number, got {value!r}")
    if not isinstance(layer_weights, Mapping) or not layer_weights:
        raise ValueError(f"layer_weights: expected a non-empty dict {{tap: weight}} such as {{'conv5_4': 1.0}}, "
                         f"got {layer_weights!r}")
    names, weights = [], []
    for tap, weight in layer_weights.items():
        name = VGG_LAYERS[vgg_type][tap_index(vgg_type, tap)]
        if name in names:
            raise ValueError(f"layer_weights: {tap!r} names layer {name!r} a second time")
        if not _is_number(weight):
            raise ValueError(f"layer_weights: expected a number for {tap!r}, got {weight!r}")
        names.append(name)
        weights.append(float(weight))
    return tuple(names), tuple(weights)


def check_pair(x, gt, layout: str = "NHWC") -> None:
    check_image(x, "x", layout=layout)
    check_image(gt, "gt", layout=layout)
    if tuple(gt.shape) != tuple(x.shape):
        raise ValueError(f"gt: expected the shape of x {tuple(x.shape)}, got {tuple(gt.shape)}")
