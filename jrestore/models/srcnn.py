"""SRCNN and FSRCNN: the first CNN super-resolvers (pre-upsampled input, then a post-upsampling deconv).

Papers: C. Dong, C. C. Loy, K. He, X. Tang, "Image Super-Resolution Using Deep Convolutional Networks",
TPAMI 2016 (SRCNN; ECCV 2014 for 9-1-5); C. Dong, C. C. Loy, X. Tang, "Accelerating the Super-Resolution
Convolutional Neural Network", ECCV 2016 (FSRCNN).
Numerics match yjn870/SRCNN-pytorch `models.py` (SRCNN 9-5-5, 64/32 features, padding k//2) and
yjn870/FSRCNN-pytorch `models.py` (FSRCNN(d, s, m)); their state dicts load by rule (`conv1..3`;
`first_part.{0,1}`, `mid_part.{0..2m+3}`, `last_part`), e.g. the x3 checkpoint in ../shared/data/sr/weights.

SRCNN takes the image already enlarged to the target size (the papers use MATLAB `imresize` bicubic,
`jrestore.ops.resize.imresize_matlab`); the model itself does not resize. FSRCNN takes the LR image and
enlarges it with its last (deconvolution) layer. Both usually work on the Y channel (num_channels=1).

Parity notes:
- SRCNN `variant` '915' (conv2 1x1, the ECCV 2014 network) or '955' (conv2 5x5, the TPAMI best and
  yjn870's layout; default). `padding='same'` pads k//2 per layer (the torch ports); 'valid' is the
  original paper's convolution without padding: the output shrinks by 12 (9-1-5) or 16 (9-5-5) pixels, so
  crop the target by half of that on each side. Init is PyTorch's default (as yjn870), not the paper's
  N(0, 0.001).
- FSRCNN: per-channel PReLU(d) / PReLU(s) with PyTorch's init 0.25; the deconvolution is PyTorch's
  ConvTranspose2d(d, C, 9, stride=scale, padding=4, output_padding=scale-1) via jrestore's rule
  (docs/conventions.md §2), so the output is exactly scale x the input. Init as yjn870: conv weights
  N(0, 2 / (out * k * k)), the deconvolution N(0, 0.001), zero biases (same distributions in both
  frameworks, not the same values).
- `prelu_split=True`: the same function with every PReLU(c) written as ReLU(c) - a * ReLU(-c), for int8
  (`jrestore quantize --set prelu_split=true`): each convolution's outputs doubled (c and -c), ReLU in
  place of PReLU, the slopes folded into the next layer's doubled inputs; widths 2d / 2s, the state-dict
  keys the same minus the slopes. A PReLU checkpoint loads into it converted by rule
  (jrestore.core.models.srcnn.fsrcnn_prelu_split_state, the spec's state_rule). Not in any paper or seed.
- The official x3 weights give yjn870's Set5 numbers (../shared/data/expected_psnr.json) only under its
  test.py protocol, which *resizes* the whole original image with PIL bicubic to a multiple of 3 (it does
  not crop), then makes LR with PIL bicubic on uint8 (see parity_tests/test_sr_models.py).

Seed variants (seed 002): its SRCNN is `SRCNN(variant='915', padding='same')` exactly (9-1-5 with padding
4, 0, 2, ReLU after the first two convs, one channel); `variant='955'` (default, yjn870) and
`padding='valid'` (the paper's) are not the seed's. FSRCNN is not described by any seed (seed 001 only
names it).
"""
from __future__ import annotations

import functools

import jax
from flax import nnx

from jrestore._validate import check_choice, check_image, check_int
from jrestore.layers.activation import PReLU, ReLU
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d, ConvTranspose2d
from jrestore.layers.init import init_weights, kaiming_normal, normal
from jrestore.layers.params import ConvTransposeKernel
from jrestore.models._registry import register
from jrestore.core.models.srcnn import (  # noqa: F401  framework-neutral part, shared with torch_ref
    SRCNN_KERNELS, check_fsrcnn_args, srcnn_config)

__all__ = ["SRCNN", "FSRCNN", "SRCNN_KERNELS", "srcnn_config", "check_fsrcnn_args", "check_int"]


@register("srcnn")
class SRCNN(nnx.Module):
    """SRCNN: x [B, H, W, C] float32 (bicubic-upsampled) -> [B, H - shrink, W - shrink, C] (shrink 0 for 'same').

    Args: num_channels (1 for Y), variant '955' | '915', padding 'same' | 'valid' (see the module docstring).
    """

    def __init__(self, num_channels: int = 1, variant: str = "955", padding: str = "same", *, rngs: nnx.Rngs):
        (k1, k2, k3), pads, self.shrink = srcnn_config(num_channels, variant, padding)
        self.num_channels, self.variant, self.padding = num_channels, variant, padding
        self.conv1 = Conv2d(num_channels, 64, k1, padding=pads[0], rngs=rngs)
        self.conv2 = Conv2d(64, 32, k2, padding=pads[1], rngs=rngs)
        self.conv3 = Conv2d(32, num_channels, k3, padding=pads[2], rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.num_channels, min_size=self.shrink + 1)
        x = jax.nn.relu(self.conv1(x))
        x = jax.nn.relu(self.conv2(x))
        return self.conv3(x)


@register("fsrcnn")
class FSRCNN(nnx.Module):
    """FSRCNN: LR x [B, H, W, C] float32 -> HR [B, H * scale_factor, W * scale_factor, C].

    Args: scale_factor (any integer >= 1), num_channels (1 for Y), d (feature width, 56), s (shrunk width,
    12), m (mapping layers, 4), prelu_split (ReLU on doubled widths in place of PReLU; see the parity notes).
    """

    def __init__(self, scale_factor: int = 3, num_channels: int = 1, d: int = 56, s: int = 12, m: int = 4,
                 prelu_split: bool = False, *, rngs: nnx.Rngs):
        check_fsrcnn_args(scale_factor, num_channels, d, s, m, prelu_split)
        self.scale_factor, self.num_channels = scale_factor, num_channels
        w = 2 if prelu_split else 1
        d, s = w * d, w * s

        def act(n):
            return ReLU() if prelu_split else PReLU(n)
        self.first_part = Sequential(Conv2d(num_channels, d, 5, padding=2, rngs=rngs), act(d))
        mid = [Conv2d(d, s, 1, rngs=rngs), act(s)]
        for _ in range(m):
            mid += [Conv2d(s, s, 3, padding=1, rngs=rngs), act(s)]
        mid += [Conv2d(s, d, 1, rngs=rngs), act(d)]
        self.mid_part = Sequential(*mid)
        self.last_part = ConvTranspose2d(d, num_channels, 9, stride=scale_factor, padding=4,
                                         output_padding=scale_factor - 1, rngs=rngs)
        # yjn870: N(0, 2 / (out * k * k)), i.e. kaiming_normal_(mode='fan_out'), for the convs; N(0, 0.001)
        # for the deconvolution; zero biases.
        convs = [c for c in (*self.first_part, *self.mid_part) if isinstance(c, Conv2d)]
        init_weights(convs, functools.partial(kaiming_normal, mode="fan_out"), key=rngs.params(), bias_fill=0.0)
        init_weights(self.last_part, functools.partial(normal, std=0.001), key=rngs.params(),
                     kind=ConvTransposeKernel, bias_fill=0.0)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.num_channels)
        return self.last_part(self.mid_part(self.first_part(x)))
