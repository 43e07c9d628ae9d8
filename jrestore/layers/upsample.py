"""Sub-pixel upsampling modules (NHWC), with PyTorch's pixel-shuffle channel order.

Parity notes: PixelShuffle / PixelUnshuffle are torch.nn.PixelShuffle / PixelUnshuffle (channel index
(c, i, j), docs/conventions.md §3). `Upsampler(scale, num_feat)` is the EDSR / BasicSR `Upsample` sub-pixel
stack: for scale 2^n, n x [conv3x3 (num_feat -> 4 num_feat, padding 1), PixelShuffle(2)]; for scale 3,
[conv3x3 (num_feat -> 9 num_feat), PixelShuffle(3)]. It is a Sequential, so its PyTorch keys are
'0.weight', '2.weight', ... (the shuffles keep their indices). Other scales raise ValueError.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_choice, check_image, check_int
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d
from jrestore.ops.pixel_shuffle import check_factor, pixel_shuffle, pixel_unshuffle
from jrestore.core.layers.upsample import (  # noqa: F401  framework-neutral part, shared with torch_ref
    check_upsampler_scale)

__all__ = ["PixelShuffle", "PixelUnshuffle", "Upsample", "Upsampler", "check_upsampler_scale"]


class PixelShuffle(nnx.Module):
    """torch.nn.PixelShuffle: x [B, H, W, C * r * r] -> [B, H * r, W * r, C], r = upscale_factor."""

    def __init__(self, upscale_factor: int):
        self.upscale_factor = check_factor(upscale_factor, "upscale_factor")

    def __call__(self, x: jax.Array) -> jax.Array:
        return pixel_shuffle(x, self.upscale_factor)


class PixelUnshuffle(nnx.Module):
    """torch.nn.PixelUnshuffle: x [B, H * r, W * r, C] -> [B, H, W, C * r * r], r = downscale_factor."""

    def __init__(self, downscale_factor: int):
        self.downscale_factor = check_factor(downscale_factor, "downscale_factor")

    def __call__(self, x: jax.Array) -> jax.Array:
        return pixel_unshuffle(x, self.downscale_factor)


class Upsampler(Sequential):
    """Sub-pixel upsampler: x [B, H, W, num_feat] -> [B, H * scale, W * scale, num_feat]."""

    def __init__(self, scale: int, num_feat: int, *, rngs: nnx.Rngs):
        layers = []
        for r in check_upsampler_scale(scale):
            layers += [Conv2d(num_feat, r * r * num_feat, 3, 1, 1, rngs=rngs), PixelShuffle(r)]
        super().__init__(*layers)


class Upsample(nnx.Module):
    """torch.nn.Upsample(scale_factor=s, mode='nearest') for an integer s: each pixel repeated s x s times."""

    def __init__(self, scale_factor: int = 2, mode: str = "nearest"):
        check_int(scale_factor, "scale_factor")
        check_choice(mode, "mode", ("nearest",))
        self.scale_factor = scale_factor

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x")
        s = self.scale_factor
        return jnp.repeat(jnp.repeat(x, s, axis=1), s, axis=2)
