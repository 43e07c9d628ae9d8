"""DnCNN: residual learning of a deep CNN for Gaussian denoising, with two body variants.

Paper: K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, "Beyond a Gaussian Denoiser: Residual Learning of
Deep CNN for Image Denoising", IEEE TIP 26(7), 2017.
Numerics and module names match cszn/KAIR `models/network_dncnn.py` (`DnCNN(in_nc, out_nc, nc, nb,
act_mode)` built from `models/basicblock.py` `conv(mode='C'+act_mode)` and the flattening `sequential`), so
KAIR's state dicts load by rule: `model.0` head conv, `model.1` ReLU, then per body layer conv (+ BN) +
ReLU, and the tail conv; with act_mode='R' the keys are `model.{0,2,...,2(nb-1)}.{weight,bias}`, the
layout of the official (BN-folded) DnCNN-S checkpoint `model_zoo/dncnn_25.pth`.

    head  conv3x3(in_nc -> nc) + act
    body  (nb - 2) x [conv3x3(nc -> nc) (+ BN) + act]       variant='plain' (KAIR)
          (nb - 2) x ResidualBlock(nc)                      variant='residual'
          (nb - 2) x [depthwise-separable conv (+ BN) + act] variant='separable'
    tail  conv3x3(nc -> out_nc)
    output x - model(x)   (the network predicts the noise)

nb is KAIR's "total number of conv layers" for 'plain': 17 for DnCNN-S (known sigma), 20 for DnCNN-B
(blind, sigma in [0, 55]) and CDnCNN-B (colour: in_nc = out_nc = 3). For the variants nb - 2 counts body
units, so 'residual' has 2 (nb - 2) + 2 convs and 'separable' 2 (nb - 2) + 2 (depthwise + pointwise).

Parity notes:
- act_mode as KAIR: 'R' (ReLU, no BN), 'BR' (BN + ReLU, the default), 'L' / 'BL' (LeakyReLU with
  KAIR's slope 0.2). KAIR's 'I' (instance norm) modes are not offered. The head has no BN (KAIR uses only
  act_mode[-1] there), the tail neither.
- BatchNorm is KAIR's `nn.BatchNorm2d(nc, momentum=0.9, eps=1e-4)`: momentum in PyTorch's convention
  (running = 0.1 running + 0.9 batch; Flax's momentum would be 0.1), eps 1e-4 not 1e-5
  (docs/conventions.md §5), via jrestore.layers.BatchNorm2d (unbiased running variance).
- Every conv has a bias and padding 1 (explicit PyTorch padding, docs/conventions.md §1), so any H x W works.
- Official checkpoints have BN merged into the convs (KAIR `utils_bnorm.merge_bn`), which is exactly the
  act_mode='R' layout: load them into DnCNN(act_mode='R').
- Init is PyTorch's default (as KAIR's class); KAIR's training script re-initialises (orthogonal, gain
  0.2, BN uniform) in `define_G` — a training choice, left to the training config.
- Design sketch (docs/conventions.md §15): its 'residual' variant is taken as written: ResidualBlock =
  relu(bn2(conv2(relu(bn1(conv1(x))))) + x), attributes conv1, bn1, conv2, bn2, replacing each body layer;
  the BN follows act_mode. Its BatchNorm settings are selectable: `bn_settings='kair'` (default: KAIR's
  momentum / eps, so act_mode means the same in every variant) or 'pytorch' (nn.BatchNorm2d's defaults,
  eps 1e-5, momentum 0.1, as the sketch writes them): DnCNN(variant='residual', bn_settings='pytorch') is
  the sketch's network exactly. Its 'separable' idea (depthwise 3x3 + pointwise 1x1, MobileNet-style) replaces
  the body convs only: the head sees one channel, where a depthwise conv would be a rank-1 filter bank.
- The residual output needs out_nc == in_nc (ValueError otherwise); KAIR would silently broadcast.

Seed variants (seed 004): `variant='residual', bn_settings='pytorch'` is the seed's DnCNN code exactly (a
conv + ReLU head, ResidualBlocks, a conv tail, x - noise); `variant='separable'` its depthwise-separable idea
(body only, see above). `variant='plain'` (the paper's, described by the seed in words only),
`bn_settings='kair'` and the BN-folded `act_mode='R'` of the official weights are KAIR's, not the seed's.
"""
from __future__ import annotations

import jax
from flax import nnx

from jrestore._validate import check_choice, check_image, check_int
from jrestore.layers.activation import LeakyReLU, ReLU
from jrestore.layers.blocks import DepthwiseSeparableConv2d, Sequential
from jrestore.layers.conv import Conv2d
from jrestore.layers.norm import BatchNorm2d
from jrestore.models._registry import register
from jrestore.core.models.dncnn import (  # noqa: F401  framework-neutral part, shared with torch_ref
    ACT_MODES, BN_SETTINGS, DNCNN_VARIANTS, KAIR_BN, LEAKY_SLOPE, check_act_mode, check_dncnn_args)

__all__ = ["DnCNN", "ResidualBlock", "kair_conv_stack", "check_act_mode", "check_dncnn_args", "ACT_MODES",
           "DNCNN_VARIANTS", "KAIR_BN", "LEAKY_SLOPE"]


# ---- modules ----

def _act(letter: str):
    return ReLU(inplace=True) if letter == "R" else LeakyReLU(LEAKY_SLOPE, inplace=True)


class ResidualBlock(nnx.Module):
    """act(bn2(conv2(act(bn1(conv1(x))))) + x), x [B, H, W, nc]; bn1 / bn2 are None without BN."""

    def __init__(self, nc: int, bn: bool = True, act: str = "R", bn_kwargs: dict = KAIR_BN, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(nc, nc, 3, 1, 1, rngs=rngs)
        self.bn1 = BatchNorm2d(nc, **bn_kwargs) if bn else None
        self.conv2 = Conv2d(nc, nc, 3, 1, 1, rngs=rngs)
        self.bn2 = BatchNorm2d(nc, **bn_kwargs) if bn else None
        self.act = _act(act)

    def __call__(self, x: jax.Array) -> jax.Array:
        out = self.conv1(x)
        out = self.act(self.bn1(out) if self.bn1 is not None else out)
        out = self.conv2(out)
        out = self.bn2(out) if self.bn2 is not None else out
        return self.act(out + x)


def kair_conv_stack(in_ch: int, out_ch: int, nc: int, nb: int, act_mode: str, variant: str = "plain",
                    bn_kwargs: dict = KAIR_BN, *, rngs: nnx.Rngs) -> Sequential:
    """KAIR's B.sequential(head, *body, tail), flattened so the indices match KAIR's `model.{i}` keys."""
    bn, act = check_act_mode(act_mode)
    layers = [Conv2d(in_ch, nc, 3, 1, 1, rngs=rngs), _act(act)]
    for _ in range(nb - 2):
        if variant == "residual":
            layers.append(ResidualBlock(nc, bn, act, bn_kwargs, rngs=rngs))
            continue
        if variant == "separable":
            layers.append(DepthwiseSeparableConv2d(nc, nc, 3, 1, rngs=rngs))
        else:
            layers.append(Conv2d(nc, nc, 3, 1, 1, rngs=rngs))
        if bn:
            layers.append(BatchNorm2d(nc, **bn_kwargs))
        layers.append(_act(act))
    layers.append(Conv2d(nc, out_ch, 3, 1, 1, rngs=rngs))
    return Sequential(*layers)


@register("dncnn")
class DnCNN(nnx.Module):
    """DnCNN: noisy x [B, H, W, in_nc] float32 (in [0, 1] plus noise) -> denoised [B, H, W, in_nc] = x - model(x).

    Args (KAIR's names): in_nc (1; 3 for colour), out_nc (== in_nc), nc (64 features), nb (17; 20 for the
    blind DnCNN-B), act_mode ('BR'; 'R' for BN-folded checkpoints), variant ('plain' | 'residual' |
    'separable', see the module docstring), bn_settings ('kair' | 'pytorch': BatchNorm eps and momentum).
    """

    def __init__(self, in_nc: int = 1, out_nc: int = 1, nc: int = 64, nb: int = 17, act_mode: str = "BR",
                 variant: str = "plain", bn_settings: str = "kair", *, rngs: nnx.Rngs):
        check_dncnn_args(in_nc, out_nc, nc, nb, act_mode, variant, bn_settings)
        self.in_nc = in_nc
        self.model = kair_conv_stack(in_nc, out_nc, nc, nb, act_mode, variant, BN_SETTINGS[bn_settings], rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.in_nc)
        return x - self.model(x)
