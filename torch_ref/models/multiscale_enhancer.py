"""The two-scale enhancer in PyTorch (NCHW): the twin of jrestore.models.multiscale_enhancer.

Source: a design sketch (docs/conventions.md §15; `MultiScaleEnhancer`), with its module names (`scale1`,
`scale2`, `fusion`), made runnable: padding 1 on the 3x3 convs, ceil-mode pooling plus a crop for odd sizes.
Parity notes: see jrestore.models.multiscale_enhancer.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from jrestore._validate import check_image
from jrestore.core.models.multiscale_enhancer import check_enhancer_args
from torch_ref.models._registry import register

__all__ = ["MultiScaleEnhancer"]


@register("multiscale_enhancer")
class MultiScaleEnhancer(nn.Module):
    """Two-scale enhancer: x [B, in_channels, H, W] (any H, W) -> [B, in_channels, H, W]."""

    def __init__(self, in_channels: int = 1, num_feat: int = 32):
        super().__init__()
        check_enhancer_args(in_channels, num_feat)
        self.in_channels = in_channels
        self.scale1 = nn.Sequential(nn.Conv2d(in_channels, num_feat, 3, 1, 1), nn.ReLU())
        self.scale2 = nn.Sequential(nn.MaxPool2d(2, ceil_mode=True), nn.Conv2d(in_channels, num_feat, 3, 1, 1),
                                    nn.Upsample(scale_factor=2))
        self.fusion = nn.Conv2d(2 * num_feat, in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.in_channels)
        h, w = x.shape[-2:]
        s1 = self.scale1(x)
        s2 = self.scale2(x)[..., :h, :w]
        return self.fusion(torch.cat([s1, s2], dim=1))
