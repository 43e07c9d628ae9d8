"""BasicSR's modified SRResNet (MSRResNet) and VGG-style discriminator, in BasicSR's checkpoint layout.

Papers: C. Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", CVPR 2017 (SRResNet / SRGAN); X. Wang et al., "ESRGAN: Enhanced Super-Resolution Generative
Adversarial Networks", ECCV Workshops 2018 (the BN-free residual trunk and the VGG-style discriminator).
Numerics, constructor arguments and module names match XPixelGroup/BasicSR
`basicsr/archs/srresnet_arch.py` (`MSRResNet`), `basicsr/archs/discriminator_arch.py`
(`VGGStyleDiscriminator`) and `basicsr/archs/arch_util.py` (`ResidualBlockNoBN`, `default_init_weights`),
so BasicSR state dicts load by rule (`conv_first`, `body.{i}.conv1`, `upconv1`, `upconv2`, `conv_hr`,
`conv_last`; `conv0_0`, `conv0_1`, `bn0_1`, ..., `conv4_1`, `bn4_1` (`conv5_*` for 256), `linear1`,
`linear2`). BasicSR's training checkpoints wrap them as {'params': ..., 'params_ema': ...}.

MSRResNet: conv3x3 + LeakyReLU(0.1); num_block x ResidualBlockNoBN (conv3x3-ReLU-conv3x3, identity +
branch, no BN); x2 / x3: upconv1 (C -> s*s*C) + PixelShuffle(s) + LeakyReLU; x4: twice [conv (C -> 4C) +
PixelShuffle(2) + LeakyReLU] (upconv1, upconv2); conv_hr 3x3 + LeakyReLU; conv_last 3x3; plus the
bilinearly upsampled input. No long skip over the trunk.
VGGStyleDiscriminator: conv0_0 3x3 (bias) + LeakyReLU(0.2); conv0_1 4x4 stride 2 + bn0_1 + LeakyReLU;
then per stage i = 1..4 (1..5 for 256): conv{i}_0 3x3 + bn + LeakyReLU, conv{i}_1 4x4 stride 2 + bn +
LeakyReLU, widths f, 2f, 4f, 8f, 8f (, 8f); flatten the 4x4 map; linear1 (8f*16 -> 100) + LeakyReLU(0.2);
linear2 (100 -> 1): a logit (the sigmoid belongs to the loss).

Parity notes:
- Bilinear base: `jrestore.ops.resize.interpolate_bilinear_torch(x, scale=upscale)` is BasicSR's
  `F.interpolate(x, scale_factor=upscale, mode='bilinear', align_corners=False)`: half-pixel centres,
  clamped edges, no antialias, with PyTorch's own float32 source coordinates (map 1 / upscale), so the
  base matches to output rounding (<= 2.4e-7); jax.image.resize rounds the x3 coordinates differently
  (1.8e-5 apart on 333 px).
- Pixel shuffle in PyTorch's (c, i, j) channel order (docs/conventions.md §3); like BasicSR, one parameter-free
  `pixel_shuffle` attribute serves both x4 stages. LeakyReLU slopes are passed explicitly (0.1 in G,
  0.2 in D); BasicSR's `inplace=True` and `out += base` have no JAX counterpart and change nothing.
- Init as BasicSR: every generator conv (including the residual blocks', via ResidualBlockNoBN) gets
  `default_init_weights(..., 0.1)`: kaiming_normal_ (fan_in, a=0: std sqrt(2 / fan_in)) times 0.1, zero
  bias. The discriminator keeps PyTorch's default init (BasicSR does not re-initialise it); BatchNorm2d
  has PyTorch's defaults (momentum 0.1, eps 1e-5, unbiased running variance; docs/conventions.md §5).
- Discriminator convs use explicit PyTorch padding: 4x4 stride 2 padding 1 maps n -> floor(n / 2). XLA
  'SAME' agrees on even sizes but pads (1, 2) on odd ones and returns ceil(n / 2) (docs/conventions.md §1).
  The final map is flattened in NCHW order (transpose before reshape), so PyTorch Linear weights convert by rule.
- Discriminator input size: BasicSR asserts only `x.size(2) == input_size` (height); linear1 then admits
  the widths that end at 4 columns, input_size <= w < 5/4 input_size (128..159, 256..319). The same set is
  accepted here, anything else is one ValueError (BasicSR: an assertion or a shape error in linear1).
- MSRResNet adds the num_in_ch-channel base to the num_out_ch-channel output, so num_out_ch must equal
  num_in_ch, or num_in_ch is 1 (the base broadcasts, as in BasicSR's in-place add). Upscales other than
  2, 3, 4 raise ValueError (BasicSR builds no upconv1 for them: an AttributeError in __init__).
- Output: G linear (not clamped), D an unbounded logit [B, 1].

Seed variants: none; MSRResNet and the VGG-style discriminator are BasicSR's, not in any seed (seed
003's SRGAN is `srresnet` / `srgan_discriminator`).
"""
from __future__ import annotations

import jax
from flax import nnx

from jrestore._validate import check_choice, check_image, check_int
from jrestore.layers.activation import LeakyReLU
from jrestore.layers.blocks import ResidualBlockNoBN, Sequential
from jrestore.layers.conv import Conv2d
from jrestore.layers.init import init_weights, kaiming_normal
from jrestore.layers.linear import Linear
from jrestore.layers.norm import BatchNorm2d
from jrestore.layers.upsample import PixelShuffle
from jrestore.models._registry import register
from jrestore.ops.resize import interpolate_bilinear_torch
from jrestore.core.models.basicsr_sr import (  # noqa: F401  framework-neutral part, shared with torch_ref
    MSRRESNET_UPSCALES, VGG_DISCRIMINATOR_SIZES, check_msrresnet_args, check_vgg_discriminator_args,
    check_vgg_discriminator_input, vgg_discriminator_widths)

__all__ = ["MSRResNet", "VGGStyleDiscriminator", "MSRRESNET_UPSCALES", "VGG_DISCRIMINATOR_SIZES",
           "check_msrresnet_args", "check_vgg_discriminator_args", "check_vgg_discriminator_input",
           "vgg_discriminator_widths"]


# ---- modules ----

@register("msrresnet")
class MSRResNet(nnx.Module):
    """BasicSR MSRResNet: LR x [B, H, W, num_in_ch] float -> HR [B, H * upscale, W * upscale, num_out_ch].

    Args (BasicSR's names and defaults): num_in_ch (3), num_out_ch (3), num_feat (64), num_block (16),
    upscale (2, 3 or 4; default 4). The output is linear (not clamped).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 upscale: int = 4, *, rngs: nnx.Rngs):
        check_msrresnet_args(num_in_ch, num_out_ch, num_feat, num_block, upscale)
        self.upscale, self.num_in_ch = upscale, num_in_ch
        self.conv_first = Conv2d(num_in_ch, num_feat, 3, 1, 1, rngs=rngs)
        # ResidualBlockNoBN applies default_init_weights(..., 0.1) to its own convs, as BasicSR's
        self.body = Sequential(*[ResidualBlockNoBN(num_feat, rngs=rngs) for _ in range(num_block)])
        if upscale in (2, 3):
            self.upconv1 = Conv2d(num_feat, num_feat * upscale * upscale, 3, 1, 1, rngs=rngs)
            self.pixel_shuffle = PixelShuffle(upscale)
        else:  # x4 as two x2 stages
            self.upconv1 = Conv2d(num_feat, num_feat * 4, 3, 1, 1, rngs=rngs)
            self.upconv2 = Conv2d(num_feat, num_feat * 4, 3, 1, 1, rngs=rngs)
            self.pixel_shuffle = PixelShuffle(2)
        self.conv_hr = Conv2d(num_feat, num_feat, 3, 1, 1, rngs=rngs)
        self.conv_last = Conv2d(num_feat, num_out_ch, 3, 1, 1, rngs=rngs)
        self.lrelu = LeakyReLU(negative_slope=0.1, inplace=True)
        # BasicSR default_init_weights([...], 0.1): kaiming_normal_ (fan_in) x 0.1, zero bias
        convs = [self.conv_first, self.upconv1, self.conv_hr, self.conv_last]
        if upscale == 4:
            convs.append(self.upconv2)
        init_weights(convs, kaiming_normal, key=rngs.params(), scale=0.1, bias_fill=0.0)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.num_in_ch)
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upscale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + interpolate_bilinear_torch(x, scale=self.upscale)


@register("vgg_style_discriminator")
class VGGStyleDiscriminator(nnx.Module):
    """BasicSR VGG-style D: x [B, input_size, W, num_in_ch] float (W = input_size usually; see the module
    docstring for the widths BasicSR admits) -> logits [B, 1].

    Args (BasicSR's names): num_in_ch (3), num_feat (64: widths f, 2f, 4f, 8f), input_size (128 or 256).
    BasicSR's signature has no defaults for num_in_ch / num_feat; 3 and 64 are its documented defaults.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128, *, rngs: nnx.Rngs):
        check_vgg_discriminator_args(num_in_ch, num_feat, input_size)
        widths = vgg_discriminator_widths(num_feat, input_size)
        self.num_in_ch, self.input_size, self.num_stages = num_in_ch, input_size, len(widths)
        self.conv0_0 = Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True, rngs=rngs)
        self.conv0_1 = Conv2d(num_feat, num_feat, 4, 2, 1, bias=False, rngs=rngs)
        self.bn0_1 = BatchNorm2d(num_feat, affine=True)
        for i in range(1, len(widths)):  # conv{i}_0 3x3 widens, conv{i}_1 4x4 stride 2 halves the size
            cin, cout = widths[i - 1], widths[i]
            setattr(self, f"conv{i}_0", Conv2d(cin, cout, 3, 1, 1, bias=False, rngs=rngs))
            setattr(self, f"bn{i}_0", BatchNorm2d(cout, affine=True))
            setattr(self, f"conv{i}_1", Conv2d(cout, cout, 4, 2, 1, bias=False, rngs=rngs))
            setattr(self, f"bn{i}_1", BatchNorm2d(cout, affine=True))
        self.linear1 = Linear(num_feat * 8 * 4 * 4, 100, rngs=rngs)
        self.linear2 = Linear(100, 1, rngs=rngs)
        self.lrelu = LeakyReLU(negative_slope=0.2, inplace=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_vgg_discriminator_input(x, self.input_size, self.num_in_ch)
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, self.num_stages):
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        feat = feat.transpose(0, 3, 1, 2).reshape(feat.shape[0], -1)  # NCHW order, as feat.view(B, -1)
        return self.linear2(self.lrelu(self.linear1(feat)))
