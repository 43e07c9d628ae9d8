"""The framework-neutral part of jrestore.models.srresnet: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.srresnet and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import math

from jrestore._validate import check_choice, check_image, check_int
from jrestore.core.layers.conv import pair

__all__ = ["SRRESNET_SCALES", "check_discriminator_args", "check_discriminator_input", "check_srresnet_args",
           "discriminator_feature_size"]


SRRESNET_SCALES = (2, 4)


_D_STRIDES = (2, 1, 2, 1, 2, 1, 2)


def check_srresnet_args(scale: int, num_channels: int, num_feat: int, num_block: int) -> int:
    """Validate SRResNet's arguments; returns the number of x2 upsampling blocks."""
    check_choice(scale, "scale", SRRESNET_SCALES)
    check_int(num_channels, "num_channels")
    check_int(num_feat, "num_feat")
    check_int(num_block, "num_block", minimum=0)
    return int(math.log2(scale))


def discriminator_feature_size(input_size) -> tuple[int, int]:
    """(h, w) of the last feature map for an input of `input_size` (int or (h, w))."""
    h, w = pair(input_size, "input_size")
    for stride in _D_STRIDES:
        if stride == 2:  # PyTorch conv 3x3, stride 2, padding 1
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    return h, w


def check_discriminator_args(num_channels: int, num_feat: int, input_size) -> tuple[tuple[int, int], tuple[int, int]]:
    """Validate SRGANDiscriminator's arguments; returns ((input h, w), (feature h, w))."""
    check_int(num_channels, "num_channels")
    check_int(num_feat, "num_feat")
    h, w = pair(input_size, "input_size")
    if h < 1 or w < 1:
        raise ValueError(f"input_size: expected positive sizes, got {input_size!r}")
    return (h, w), discriminator_feature_size((h, w))


def check_discriminator_input(x, input_size: tuple[int, int], num_channels: int, layout: str = "NHWC") -> None:
    check_image(x, "x", layout=layout, channels=num_channels)
    hw = tuple(x.shape[1:3] if layout == "NHWC" else x.shape[2:4])
    if hw != tuple(input_size):
        raise ValueError(f"x: expected {input_size[0]}x{input_size[1]} inputs (input_size={input_size}; the dense "
                         f"layer fixes the size), got {hw[0]}x{hw[1]}")
