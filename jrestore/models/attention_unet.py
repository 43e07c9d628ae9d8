"""Attention U-Net: a U-Net whose skip connections pass through additive attention gates, here as a denoiser.

Paper: O. Oktay, J. Schlemper, L. Le Folgoc, M. Lee, M. Heinrich, K. Misawa, K. Mori, S. McDonagh,
N. Y. Hammerla, B. Kainz, B. Glocker, D. Rueckert, "Attention U-Net: Learning Where to Look for the
Pancreas", MIDL 2018.
Numerics and module names match LeeJunHyun/Image_Segmentation `network.py` `AttU_Net` (with its
`conv_block`, `up_conv` and `Attention_block`), generalised to a configurable width and depth; with
num_feat=64, depth=4 the state-dict keys and shapes are AttU_Net's (`Conv1..Conv5`, `Up5..Up2`,
`Att5..Att2`, `Up_conv5..Up_conv2`, `Conv_1x1`), so its checkpoints load by rule.

    encoder  Conv1 = ConvBlock(img_ch -> f); Conv{l} = Maxpool 2x2 then ConvBlock(f 2^(l-2) -> f 2^(l-1)),
             l = 2 .. depth + 1
    decoder  for l = depth + 1 .. 2, with c = f 2^(l-2):
             d = Up{l}(d)                      nearest x2, conv3x3 (2c -> c), BN, ReLU
             s = Att{l}(g=d, x=skip)           skip * psi(relu(W_g(d) + W_x(skip))), F_int = c / 2
             d = Up_conv{l}(concat(s, d))      ConvBlock(2c -> c); the gated skip comes first
    head     Conv_1x1 (f -> output_ch); `residual=True` returns x - that (noise prediction, DnCNN-style)

ConvBlock = [conv3x3, BN, ReLU] x 2 (attribute `conv`); W_g / W_x = conv1x1 + BN; psi = conv1x1 (-> 1)
+ BN(1) + sigmoid.

Parity notes:
- BatchNorm2d with PyTorch's defaults (momentum 0.1, eps 1e-5), as AttU_Net. Every conv has a bias and
  explicit PyTorch padding (docs/conventions.md §1). PyTorch default init (AttU_Net's `init_weights` helper
  is never called by its solver).
- Max-pool 2x2 stride 2 and nearest x2 upsampling (`nn.Upsample(scale_factor=2)`) are exact in both
  frameworks (the upsampling is a repeat; jax.image.resize 'nearest' equals torch 'nearest-exact', which
  agrees with torch 'nearest' only at integer ratios, docs/conventions.md §4). Max-pool gradients go to the
  first maximum of each window, as PyTorch's.
- H and W must be divisible by 2**depth (AttU_Net would fail at the concatenation); otherwise ValueError.
- For denoising the defaults are img_ch = output_ch = 1; `residual=True` needs img_ch == output_ch.
  AttU_Net itself returns the 1x1-conv output (residual=False, the default here).

Seed variants (seed 002): the seed names an attention U-Net without code; the network is AttU_Net's.
`residual=True` (output + input, for denoising) is jrestore's option, not the seed's.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_choice, check_image, check_int
from jrestore.layers.activation import ReLU, Sigmoid
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d
from jrestore.layers.norm import BatchNorm2d
from jrestore.layers.pool import MaxPool2d
from jrestore.layers.upsample import Upsample
from jrestore.models._registry import register
from jrestore.core.models.attention_unet import (  # noqa: F401  framework-neutral part, shared with torch_ref
    check_attention_unet_args, unet_widths)

__all__ = ["AttentionUNet", "AttentionBlock", "ConvBlock", "UpConv", "check_attention_unet_args", "unet_widths"]


# ---- blocks (LeeJunHyun's conv_block, up_conv, Attention_block) ----

class ConvBlock(nnx.Module):
    """[conv3x3, BN, ReLU] x 2: [B, H, W, ch_in] -> [B, H, W, ch_out]."""

    def __init__(self, ch_in: int, ch_out: int, *, rngs: nnx.Rngs):
        self.conv = Sequential(
            Conv2d(ch_in, ch_out, 3, 1, 1, rngs=rngs), BatchNorm2d(ch_out), ReLU(inplace=True),
            Conv2d(ch_out, ch_out, 3, 1, 1, rngs=rngs), BatchNorm2d(ch_out), ReLU(inplace=True))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(x)


class UpConv(nnx.Module):
    """nearest x2, conv3x3, BN, ReLU: [B, H, W, ch_in] -> [B, 2H, 2W, ch_out]."""

    def __init__(self, ch_in: int, ch_out: int, *, rngs: nnx.Rngs):
        self.up = Sequential(Upsample(scale_factor=2), Conv2d(ch_in, ch_out, 3, 1, 1, rngs=rngs),
                             BatchNorm2d(ch_out), ReLU(inplace=True))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.up(x)


class AttentionBlock(nnx.Module):
    """Additive attention gate: (g [B, H, W, F_g], x [B, H, W, F_l]) -> x * psi, psi [B, H, W, 1] in (0, 1)."""

    def __init__(self, F_g: int, F_l: int, F_int: int, *, rngs: nnx.Rngs):  # noqa: N803 (AttU_Net's names)
        self.W_g = Sequential(Conv2d(F_g, F_int, 1, 1, 0, rngs=rngs), BatchNorm2d(F_int))
        self.W_x = Sequential(Conv2d(F_l, F_int, 1, 1, 0, rngs=rngs), BatchNorm2d(F_int))
        self.psi = Sequential(Conv2d(F_int, 1, 1, 1, 0, rngs=rngs), BatchNorm2d(1), Sigmoid())
        self.relu = ReLU(inplace=True)

    def __call__(self, g: jax.Array, x: jax.Array) -> jax.Array:
        return x * self.psi(self.relu(self.W_g(g) + self.W_x(x)))


# ---- model ----

@register("attention_unet")
class AttentionUNet(nnx.Module):
    """Attention U-Net: x [B, H, W, img_ch] float32, H and W divisible by 2**depth -> [B, H, W, output_ch].

    Args: img_ch (1), output_ch (1), num_feat (64: widths num_feat * 2**i), depth (4 poolings, AttU_Net's),
    residual (False: return the 1x1-conv output as AttU_Net; True: x - it).
    """

    def __init__(self, img_ch: int = 1, output_ch: int = 1, num_feat: int = 64, depth: int = 4,
                 residual: bool = False, *, rngs: nnx.Rngs):
        check_attention_unet_args(img_ch, output_ch, num_feat, depth, residual)
        self.img_ch, self.depth, self.residual = img_ch, depth, residual
        w = unet_widths(num_feat, depth)
        self.Maxpool = MaxPool2d(kernel_size=2, stride=2)
        for i, (cin, cout) in enumerate(zip([img_ch] + w[:-1], w)):
            setattr(self, f"Conv{i + 1}", ConvBlock(cin, cout, rngs=rngs))
        for level in range(depth + 1, 1, -1):
            c = w[level - 2]
            setattr(self, f"Up{level}", UpConv(2 * c, c, rngs=rngs))
            setattr(self, f"Att{level}", AttentionBlock(F_g=c, F_l=c, F_int=c // 2, rngs=rngs))
            setattr(self, f"Up_conv{level}", ConvBlock(2 * c, c, rngs=rngs))
        self.Conv_1x1 = Conv2d(num_feat, output_ch, 1, 1, 0, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.img_ch, multiple_of=2 ** self.depth)
        skips = [self.Conv1(x)]
        for level in range(2, self.depth + 2):
            skips.append(getattr(self, f"Conv{level}")(self.Maxpool(skips[-1])))
        d = skips.pop()
        for level in range(self.depth + 1, 1, -1):
            d = getattr(self, f"Up{level}")(d)
            s = getattr(self, f"Att{level}")(g=d, x=skips.pop())
            d = getattr(self, f"Up_conv{level}")(jnp.concatenate([s, d], axis=-1))
        out = self.Conv_1x1(d)
        return x - out if self.residual else out
