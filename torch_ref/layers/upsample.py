"""Twins of jrestore.layers.upsample (NCHW)."""
from __future__ import annotations

from torch import nn
from torch.nn import PixelShuffle, PixelUnshuffle, Upsample

from jrestore.core.layers.upsample import check_upsampler_scale

__all__ = ["PixelShuffle", "PixelUnshuffle", "Upsample", "Upsampler"]


class Upsampler(nn.Sequential):
    """EDSR / BasicSR sub-pixel upsampler: x [B, num_feat, H, W] -> [B, num_feat, H * scale, W * scale]."""

    def __init__(self, scale: int, num_feat: int):
        layers = []
        for r in check_upsampler_scale(scale):
            layers += [nn.Conv2d(num_feat, r * r * num_feat, 3, 1, 1), nn.PixelShuffle(r)]
        super().__init__(*layers)
