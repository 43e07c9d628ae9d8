"""SRResNet (the SRGAN generator) and the SRGAN discriminator.

Paper: C. Ledig, L. Theis, F. Huszar, J. Caballero, A. Cunningham, A. Acosta, A. Aitken, A. Tejani,
J. Totz, Z. Wang, W. Shi, "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", CVPR 2017 (Fig. 4).
Numerics and module names match Lornatang/SRGAN-PyTorch `model.py` (`Generator`: `conv_block1`,
`trunk.{i}.rcb`, `conv_block2`, `upsampling.{i}.upsample_block`, `conv_block3`; `Discriminator`:
`features`, `classifier`; the repository's later `SRResNet` class renames conv_block1/2/3 to conv1/2/3), so
its state dicts load by rule.

SRResNet: conv 9x9 + PReLU; num_block residual blocks (conv3x3-BN-PReLU-conv3x3-BN + skip); conv3x3 + BN;
global skip from the first conv; log2(scale) x [conv3x3 (C -> 4C), PixelShuffle(2), PReLU]; conv 9x9.
SRGANDiscriminator: conv3x3 + LeakyReLU(0.2); seven conv3x3-BN-LeakyReLU(0.2) blocks with widths
(f, 2f, 2f, 4f, 4f, 8f, 8f) and strides (2, 1, 2, 1, 2, 1, 2); flatten; dense 1024; LeakyReLU(0.2);
dense 1 (a logit: the sigmoid belongs to the loss, e.g. BCE-with-logits).

Parity notes:
- Output: linear (no tanh, no clamp). The paper's tanh goes with its [-1, 1] HR scaling; jrestore images
  are in [0, 1], and Lornatang's in-forward `clamp_(0, 1)` would zero the gradient of every out-of-range
  pixel, so clamp only when evaluating or saving.
- BatchNorm2d with PyTorch's defaults (momentum 0.1, eps 1e-5; unbiased running variance, via
  jrestore.layers.BatchNorm2d). Convolutions followed by BN have no bias (as Lornatang). PReLU is scalar
  (`nn.PReLU()`, one slope, init 0.25). Pixel shuffle in PyTorch's (c, i, j) channel order
  (docs/conventions.md §3).
- Init as Lornatang: kaiming_normal_ (fan_in, gain sqrt(2)) for every generator conv, zero biases; the
  discriminator keeps PyTorch's default init.
- Scales 2, 4 and 8 (log2(scale) x2 sub-pixel blocks), as Lornatang's current `SRResNet(upscale_factor=...)`;
  its current checkpoints name conv_block1/2/3 `conv1` / `conv2` / `conv3` and load through the spec's
  key_aliases (jrestore/core/models/srresnet.py). The design sketch (seed 002) draws the same generator.
- Discriminator input size: the dense layer sees the full flattened feature map, as in the paper (96x96
  input -> 6x6x512), so the input size is a constructor argument `input_size` (int or (h, w)); each stride-2
  conv (padding 1) maps n -> floor((n - 1) / 2) + 1. Other sizes raise ValueError. Every conv has
  explicit PyTorch padding (XLA 'SAME' is wrong for stride 2 on even inputs, docs/conventions.md §1), and the
  feature map is flattened in NCHW order (transpose before reshape) so PyTorch Linear weights convert by rule.
- The design sketch (docs/conventions.md §15) does not run as written (its generator calls `F.conv2d(x, 64, 9, ...)`
  with no weight and has no global skip; its discriminator applies Linear(1024, 1024) to the flattened
  feature map and ends in a sigmoid); the layout above follows the paper's Fig. 4 instead.

Seed variants (seeds 002 and 003): `srresnet` with the defaults (16 residual blocks, as seed 003 states;
x4, 3 channels) is the generator both seeds draw, built as the paper's figure where their sketches do not
run (see above); the seeds give no other scale. `srgan_discriminator` is the paper's discriminator, not seed 002's sigmoid /
Linear(1024, 1024) sketch.
"""
from __future__ import annotations

import math

import jax
from flax import nnx

from jrestore._validate import check_choice, check_image, check_int
from jrestore.layers.activation import LeakyReLU, PReLU
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d, pair
from jrestore.layers.init import init_weights, kaiming_normal
from jrestore.layers.linear import Linear
from jrestore.layers.norm import BatchNorm2d
from jrestore.layers.params import ConvKernel
from jrestore.layers.upsample import PixelShuffle
from jrestore.models._registry import register
from jrestore.core.models.srresnet import (  # noqa: F401  framework-neutral part, shared with torch_ref
    SRRESNET_SCALES, _D_STRIDES, check_discriminator_args, check_discriminator_input, check_srresnet_args,
    discriminator_feature_size)

__all__ = ["SRResNet", "SRGANDiscriminator", "ResidualConvBlock", "UpsampleBlock", "SRRESNET_SCALES",
           "check_srresnet_args", "check_discriminator_args", "check_discriminator_input", "discriminator_feature_size"]


# ---- modules ----

class ResidualConvBlock(nnx.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus identity: [B, H, W, C] -> [B, H, W, C]."""

    def __init__(self, channels: int, *, rngs: nnx.Rngs):
        self.rcb = Sequential(
            Conv2d(channels, channels, 3, 1, 1, bias=False, rngs=rngs), BatchNorm2d(channels, rngs=rngs), PReLU(),
            Conv2d(channels, channels, 3, 1, 1, bias=False, rngs=rngs), BatchNorm2d(channels, rngs=rngs))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.rcb(x) + x


class UpsampleBlock(nnx.Module):
    """conv3x3 (C -> 4C), PixelShuffle(2), PReLU: [B, H, W, C] -> [B, 2H, 2W, C]."""

    def __init__(self, channels: int, *, rngs: nnx.Rngs):
        self.upsample_block = Sequential(Conv2d(channels, channels * 4, 3, 1, 1, rngs=rngs), PixelShuffle(2), PReLU())

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.upsample_block(x)


@register("srresnet")
class SRResNet(nnx.Module):
    """SRResNet: LR x [B, H, W, C] float32 -> HR [B, H * scale, W * scale, C] (linear output, not clamped).

    Args: scale (2, 4 or 8), num_channels (3), num_feat (64), num_block (16 residual blocks).
    """

    def __init__(self, scale: int = 4, num_channels: int = 3, num_feat: int = 64, num_block: int = 16, *,
                 rngs: nnx.Rngs):
        n_up = check_srresnet_args(scale, num_channels, num_feat, num_block)
        self.scale, self.num_channels = scale, num_channels
        self.conv_block1 = Sequential(Conv2d(num_channels, num_feat, 9, 1, 4, rngs=rngs), PReLU())
        self.trunk = Sequential(*[ResidualConvBlock(num_feat, rngs=rngs) for _ in range(num_block)])
        self.conv_block2 = Sequential(Conv2d(num_feat, num_feat, 3, 1, 1, bias=False, rngs=rngs),
                                      BatchNorm2d(num_feat, rngs=rngs))
        self.upsampling = Sequential(*[UpsampleBlock(num_feat, rngs=rngs) for _ in range(n_up)])
        self.conv_block3 = Conv2d(num_feat, num_channels, 9, 1, 4, rngs=rngs)
        # Lornatang: kaiming_normal_ (fan_in, gain sqrt(2)) for every conv, zero biases; BN keeps weight 1, bias 0
        init_weights(self, kaiming_normal, key=rngs.params(), kind=ConvKernel, bias_fill=0.0)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.num_channels)
        out1 = self.conv_block1(x)
        out = out1 + self.conv_block2(self.trunk(out1))
        return self.conv_block3(self.upsampling(out))


def _conv_bn_lrelu(cin: int, cout: int, stride: int, rngs: nnx.Rngs) -> list:
    return [Conv2d(cin, cout, 3, stride, 1, bias=False, rngs=rngs), BatchNorm2d(cout, rngs=rngs), LeakyReLU(0.2)]


@register("srgan_discriminator")
class SRGANDiscriminator(nnx.Module):
    """SRGAN D: x [B, input_size, input_size, C] (or [B, h, w, C] for input_size=(h, w)) float32 -> logits [B, 1].

    Args: num_channels (3), num_feat (64: widths f, 2f, 4f, 8f), input_size (96, the paper's crop).
    """

    def __init__(self, num_channels: int = 3, num_feat: int = 64, input_size=96, *, rngs: nnx.Rngs):
        self.input_size, (fh, fw) = check_discriminator_args(num_channels, num_feat, input_size)
        self.num_channels = num_channels
        f = num_feat
        layers = [Conv2d(num_channels, f, 3, 1, 1, rngs=rngs), LeakyReLU(0.2)]
        widths = (f, 2 * f, 2 * f, 4 * f, 4 * f, 8 * f, 8 * f)
        for cin, cout, stride in zip((f,) + widths[:-1], widths, _D_STRIDES):
            layers += _conv_bn_lrelu(cin, cout, stride, rngs)
        self.features = Sequential(*layers)
        self.classifier = Sequential(Linear(8 * f * fh * fw, 1024, rngs=rngs), LeakyReLU(0.2),
                                     Linear(1024, 1, rngs=rngs))

    def __call__(self, x: jax.Array) -> jax.Array:
        check_discriminator_input(x, self.input_size, self.num_channels)
        y = self.features(x)
        y = y.transpose(0, 3, 1, 2).reshape(y.shape[0], -1)  # NCHW flattening order, as torch.flatten
        return self.classifier(y)
