"""A two-scale enhancement network: a full-resolution branch and a half-resolution branch, fused by a 1x1 conv.

Source: a design sketch (docs/conventions.md §15; `MultiScaleEnhancer`, "multi-scale feature fusion" for
low-light surveillance images; no paper, no reference repository). It is built as the sketch intends, with
the decisions below where the sketch does not run as written. The PyTorch twin
(torch_ref.models.multiscale_enhancer) uses the sketch's module names, so its state-dict keys are the
sketch's (`scale1.0`, `scale2.1`, `fusion`).

    scale1  conv3x3(in -> num_feat, padding 1) + ReLU                         [B, H, W, num_feat]
    scale2  MaxPool2d(2, ceil_mode=True), conv3x3(in -> num_feat, padding 1),
            nearest x2, crop to H x W                                         [B, H, W, num_feat]
    fusion  conv1x1(2 num_feat -> in) on concat(scale1, scale2)               [B, H, W, in]

Parity notes (decisions):
- The sketch's convs have no padding, so its two branches come out with different sizes (H - 2 and
  2 (H // 2 - 2)) and `torch.cat` fails; both 3x3 convs here use padding 1.
- Odd sizes: the sketch's floor-mode pooling followed by x2 upsampling would give 2 (H // 2) = H - 1 rows.
  Here the pooling uses ceil_mode=True (the last, partial window pools what it covers: every input pixel
  lies in exactly one window) and the upsampled branch is cropped to H x W, so each output pixel gets the
  half-resolution feature of its own 2x2 window; any H x W >= 1 works, and even sizes are exactly the
  sketch's network.
- The pooled branch has no activation, as in the sketch (max-pooling is its non-linearity; the fusion is
  linear in both branches).
- The output is the enhanced image itself (no residual, no clamp), with in_channels channels (the sketch
  maps 1 -> 1). Upsampling is nearest (`nn.Upsample(scale_factor=2)`), a repeat: exact in both frameworks.
- PyTorch default init.

Seed variants (seed 002): the defaults (`in_channels=1`, `num_feat=32`) are the seed's enhancer
(scale1 / scale2 / fusion), with the padding and odd-size decisions above; no option departs from it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_image, check_int
from jrestore.layers.pool import MaxPool2d
from jrestore.layers.upsample import Upsample
from jrestore.layers.activation import ReLU
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d
from jrestore.models._registry import register
from jrestore.core.models.multiscale_enhancer import (  # noqa: F401  framework-neutral part, shared with torch_ref
    check_enhancer_args)

__all__ = ["MultiScaleEnhancer", "check_enhancer_args"]


@register("multiscale_enhancer")
class MultiScaleEnhancer(nnx.Module):
    """Two-scale enhancer: x [B, H, W, in_channels] float32 (any H, W) -> [B, H, W, in_channels].

    Args: in_channels (1), num_feat (32 features per branch).
    """

    def __init__(self, in_channels: int = 1, num_feat: int = 32, *, rngs: nnx.Rngs):
        check_enhancer_args(in_channels, num_feat)
        self.in_channels = in_channels
        self.scale1 = Sequential(Conv2d(in_channels, num_feat, 3, 1, 1, rngs=rngs), ReLU())
        self.scale2 = Sequential(MaxPool2d(2, ceil_mode=True), Conv2d(in_channels, num_feat, 3, 1, 1, rngs=rngs),
                                 Upsample(scale_factor=2))
        self.fusion = Conv2d(2 * num_feat, in_channels, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.in_channels)
        h, w = x.shape[1:3]
        s1 = self.scale1(x)
        s2 = self.scale2(x)[:, :h, :w]
        return self.fusion(jnp.concatenate([s1, s2], axis=-1))
