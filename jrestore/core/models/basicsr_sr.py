"""The framework-neutral part of jrestore.models.basicsr_sr: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.basicsr_sr and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import math

from jrestore._validate import check_choice, check_image, check_int
from jrestore.core.spec import ModelSpec, ParityCase, WeightShapes, sr_images

__all__ = ["SPECS", "MSRRESNET_UPSCALES", "VGG_DISCRIMINATOR_SIZES", "check_msrresnet_args",
           "check_vgg_discriminator_args", "check_vgg_discriminator_input", "vgg_discriminator_widths"]


MSRRESNET_UPSCALES = (2, 3, 4)


VGG_DISCRIMINATOR_SIZES = (128, 256)


def check_msrresnet_args(num_in_ch: int, num_out_ch: int, num_feat: int, num_block: int, upscale: int) -> None:
    """Validate MSRResNet's arguments (one ValueError naming the argument)."""
    check_int(num_in_ch, "num_in_ch")
    check_int(num_out_ch, "num_out_ch")
    check_int(num_feat, "num_feat")
    check_int(num_block, "num_block", minimum=0)
    check_choice(upscale, "upscale", MSRRESNET_UPSCALES)
    if num_out_ch != num_in_ch and num_in_ch != 1:
        raise ValueError(f"num_out_ch: expected num_in_ch ({num_in_ch}) because the bilinear base of the input is "
                         f"added to the output (any value when num_in_ch is 1), got {num_out_ch}")


def check_vgg_discriminator_args(num_in_ch: int, num_feat: int, input_size: int) -> int:
    """Validate VGGStyleDiscriminator's arguments; returns the number of stages (5 for 128, 6 for 256)."""
    check_int(num_in_ch, "num_in_ch")
    check_int(num_feat, "num_feat")
    check_choice(input_size, "input_size", VGG_DISCRIMINATOR_SIZES)
    return 5 if input_size == 128 else 6


def vgg_discriminator_widths(num_feat: int, input_size: int) -> tuple[int, ...]:
    """Output channels of stage i (conv{i}_0 and conv{i}_1): f, 2f, 4f, 8f, 8f (, 8f for 256)."""
    n_stages = check_vgg_discriminator_args(1, num_feat, input_size)
    return tuple(num_feat * m for m in (1, 2, 4, 8, 8, 8)[:n_stages])  # one stride-2 stage per halving to 4


def check_vgg_discriminator_input(x, input_size: int, num_in_ch: int, layout: str = "NHWC") -> None:
    """Height must be input_size (BasicSR's assert); width must leave 4 columns after the stride-2 convs."""
    check_image(x, "x", layout=layout, channels=num_in_ch)
    h, w = tuple(x.shape[1:3] if layout == "NHWC" else x.shape[2:4])
    w_max = input_size * 5 // 4 - 1  # floor(w / (input_size / 4)) == 4
    if h != input_size or not input_size <= w <= w_max:
        raise ValueError(f"x: expected height {input_size} and width {input_size}..{w_max} (input_size={input_size}; "
                         f"linear1 needs a 4x4 feature map), got {h}x{w}")


# --- specs (jrestore.core.spec) -------------------------------------------------------------------------------
def _msrresnet_rule(s: WeightShapes) -> dict:
    nf, c = s("conv_first.weight")[:2]
    up = 4 if s.any(r"upconv2\.weight") else math.isqrt(s("upconv1.weight")[0] // nf)
    return {"num_in_ch": c, "num_out_ch": s("conv_last.weight")[0], "num_feat": nf,
            "num_block": len(s.indices(r"body\.(\d+)\..*")), "upscale": up}


def _vgg_discriminator_rule(s: WeightShapes) -> dict:
    """Five conv stages for 128 x 128 inputs, six for 256 (each halves the size down to 4 x 4)."""
    nf, c = s("conv0_0.weight")[:2]
    return {"num_in_ch": c, "num_feat": nf, "input_size": 4 * 2 ** len(s.indices(r"conv(\d+)_0\.weight"))}


SPECS = (
    ModelSpec("msrresnet", "sr", channels_arg="num_in_ch", scale_arg="upscale",
              halo=lambda kw: 2 * kw.get("num_block", 16) + 8, weights_rule=_msrresnet_rule,
              # BasicSR layout; x4 exercises both pixel-shuffle stages and the bilinear base (no BN: no train mode)
              parity=ParityCase(small={"upscale": 4, "num_feat": 8, "num_block": 2}, train_mode=False,
                                inputs=lambda rng, full: (sr_images(rng, (1, 16, 12, 3) if full else (2, 9, 7, 3)),))),
    ModelSpec("vgg_style_discriminator", None, channels_arg="num_in_ch", weights_rule=_vgg_discriminator_rule,
              example_hw=lambda kw: (kw.get("input_size", 128),) * 2,
              # BasicSR fixes the height to input_size; an odd width (131 -> 65 -> 32 -> ... -> 4) exercises the
              # 4x4 stride-2 convs on odd sizes, where XLA 'SAME' would differ from PyTorch's padding 1
              parity=ParityCase(small={"num_feat": 8, "input_size": 128},
                                inputs=lambda rng, full: (sr_images(rng, (1, 128, 128, 3) if full else (2, 128, 131, 3)),))),
)
