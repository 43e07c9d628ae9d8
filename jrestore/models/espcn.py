"""ESPCN: super-resolution by an efficient sub-pixel convolution (the LR image goes in, no pre-upsampling).

Paper: W. Shi, J. Caballero, F. Huszar, J. Totz, A. P. Aitken, R. Bishop, D. Rueckert, Z. Wang,
"Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural
Network", CVPR 2016. Numerics match yjn870/ESPCN-pytorch `models.py`; its state dicts load by rule
(`first_part.{0,2}`, `last_part.0`).

Parity notes:
- 5x5 (64) - tanh - 3x3 (32) - tanh - 3x3 (C * r^2) - pixel shuffle, all with padding k//2.
- `activation='relu'` is the design document's variant (seed 002: `F.relu` after conv1 and conv2, the rest
  the same); 'tanh' stays the default, as in the paper and yjn870. Parameter names and init are unchanged,
  so a checkpoint of either loads into either (the activation is not in the weights).
- The pixel shuffle uses PyTorch's channel order (c, i, j) (`out[c, h*r+i, w*r+j] = in[c*r*r + i*r + j]`,
  docs/conventions.md §3), not TensorFlow's depth_to_space order, so PyTorch weights convert without a
  channel permutation.
- Init as yjn870: the sub-pixel conv N(0, 0.001), the other convs N(0, 2 / (out * k * k)), zero biases
  (yjn870 picks the sub-pixel conv by `in_channels == 32`; both frameworks here pick it by position).

Seed variants (seed 002): `activation='relu'` is the seed's ESPCN; 'tanh' (default) is the paper's and
yjn870's. `scale_factor` and `num_channels` are free in both.
"""
from __future__ import annotations

import functools

import jax
from flax import nnx

from jrestore._validate import check_image, check_int
from jrestore.layers.activation import ReLU, Tanh
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d
from jrestore.layers.init import init_weights, kaiming_normal, normal
from jrestore.layers.upsample import PixelShuffle
from jrestore.models._registry import register
from jrestore.core.models.espcn import (  # noqa: F401  framework-neutral part, shared with torch_ref
    check_espcn_args)

__all__ = ["ESPCN", "check_espcn_args"]


@register("espcn")
class ESPCN(nnx.Module):
    """ESPCN: LR x [B, H, W, C] float32 -> HR [B, H * scale_factor, W * scale_factor, C].

    Args: scale_factor (integer >= 1, default 3), num_channels (1 for Y), activation ('tanh' or 'relu').
    """

    def __init__(self, scale_factor: int = 3, num_channels: int = 1, activation: str = "tanh", *,
                 rngs: nnx.Rngs):
        check_espcn_args(scale_factor, num_channels, activation)
        self.scale_factor, self.num_channels = scale_factor, num_channels
        act = Tanh if activation == "tanh" else ReLU
        self.first_part = Sequential(
            Conv2d(num_channels, 64, 5, padding=2, rngs=rngs), act(),
            Conv2d(64, 32, 3, padding=1, rngs=rngs), act())
        self.last_part = Sequential(
            Conv2d(32, num_channels * scale_factor ** 2, 3, padding=1, rngs=rngs), PixelShuffle(scale_factor))
        # yjn870: N(0, 2 / (out * k * k)) = kaiming_normal_(mode='fan_out') for the feature convs, N(0, 0.001)
        # for the sub-pixel conv, zero biases.
        init_weights([self.first_part[0], self.first_part[2]], functools.partial(kaiming_normal, mode="fan_out"),
                     key=rngs.params(), bias_fill=0.0)
        init_weights(self.last_part[0], functools.partial(normal, std=0.001), key=rngs.params(), bias_fill=0.0)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.num_channels)
        return self.last_part(self.first_part(x))
