"""The framework-neutral part of jrestore.models.srresnet: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.srresnet and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import math

from jrestore._validate import check_choice, check_image, check_int
from jrestore.core.layers.conv import pair
from jrestore.core.spec import BenchEntry, ModelSpec, ParityCase, WeightShapes, sr_images

__all__ = ["SPECS", "SRRESNET_SCALES", "check_discriminator_args", "check_discriminator_input", "check_srresnet_args",
           "discriminator_feature_size"]


SRRESNET_SCALES = (2, 4, 8)  # one x2 sub-pixel block per factor of 2 (Lornatang's x8 stacks three)


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


# --- specs (jrestore.core.spec) -------------------------------------------------------------------------------
def _srresnet_rule(s: WeightShapes) -> dict:
    nf, c = s("conv_block1.0.weight")[:2]
    return {"num_channels": c, "num_feat": nf, "num_block": len(s.indices(r"trunk\.(\d+)\..*")),
            "scale": 2 ** len(s.indices(r"upsampling\.(\d+)\..*"))}


def _discriminator_rule(s: WeightShapes) -> dict:
    """The input size is read from the dense layer as 16 n for an n x n final feature map (every size in
    16 n - 15 .. 16 n gives the same weights), only when that map is square."""
    f, c = s("features.0.weight")[:2]
    out = {"num_channels": c, "num_feat": f}
    flat = s("classifier.0.weight")[1]
    if flat % (8 * f) == 0:
        cells = flat // (8 * f)  # fh * fw of the last 8f-channel feature map
        n = math.isqrt(cells)
        if n * n == cells:
            out["input_size"] = 16 * n  # four stride-2 convs: ceil(size / 16) = n
    return out


# Lornatang/SRGAN-PyTorch's current model.py names the head, the fusion conv and the tail conv1, conv2 and
# conv3 (its older layout, ours: conv_block1/2/3); trunk.{i}.rcb and upsampling.{i}.upsample_block are
# the same in both. Its forward also clamps the output to [0, 1], which ours leaves to the caller.
LORNATANG_ALIASES = ((r"conv1\.(.*)", r"conv_block1.\1"), (r"conv2\.(.*)", r"conv_block2.\1"),
                     (r"conv3\.(.*)", r"conv_block3.\1"))

# The SRGAN bench pairs the x4 generator with the discriminator (d_*: its arguments)
_GAN_KWARGS = {"scale": 4, "num_channels": 3, "num_feat": 64, "num_block": 16, "d_num_feat": 64, "d_input_size": 96}

SPECS = (
    ModelSpec("srresnet", "sr", channels_arg="num_channels", scale_arg="scale",
              halo=lambda kw: 2 * kw.get("num_block", 16) + 12, weights_rule=_srresnet_rule,
              key_aliases=LORNATANG_ALIASES,
              parity=ParityCase(small={"scale": 4, "num_feat": 8, "num_block": 2},
                                inputs=lambda rng, full: (sr_images(rng, (1, 12, 12, 3) if full else (2, 9, 7, 3)),)),
              bench=(BenchEntry("srresnet", {"scale": 4, "num_channels": 3, "num_feat": 64, "num_block": 16},
                                batch=16, input_hw=(24, 24), channels=3, scale=4, recipe="srresnet_x4"),
                     # LR sizes stay multiples of 4 so the discriminator's input stays a multiple of 16
                     BenchEntry("srgan", _GAN_KWARGS, batch=16, input_hw=(24, 24), channels=3, scale=4, task="gan",
                                recipe="srgan_x4", hw_multiple=4)),
              recipe="srresnet_x4"),
    ModelSpec("srgan_discriminator", None, channels_arg="num_channels", weights_rule=_discriminator_rule,
              example_hw=lambda kw: pair(kw.get("input_size", 96), "input_size"),
              # 25x15 -> last feature map 2x1 (non-square, so a swapped flatten order would show)
              parity=ParityCase(small={"num_feat": 8, "input_size": (25, 15)},
                                inputs=lambda rng, full: (sr_images(rng, (1, 96, 96, 3) if full else (2, 25, 15, 3)),))),
)
