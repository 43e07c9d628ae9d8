"""ESPCN in PyTorch (NCHW): the twin of jrestore.models.espcn.

Paper: W. Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
Convolutional Neural Network", CVPR 2016. Layout and init of yjn870/ESPCN-pytorch `models.py`.
Parity notes: see jrestore.models.espcn.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from jrestore._validate import check_image
from jrestore.core.models.espcn import check_espcn_args
from torch_ref.models._registry import register

__all__ = ["ESPCN"]


@register("espcn")
class ESPCN(nn.Module):
    """ESPCN: LR x [B, C, H, W] -> HR [B, C, H * scale_factor, W * scale_factor]."""

    def __init__(self, scale_factor: int = 3, num_channels: int = 1, activation: str = "tanh"):
        super().__init__()
        check_espcn_args(scale_factor, num_channels, activation)
        self.scale_factor, self.num_channels = scale_factor, num_channels
        act = nn.Tanh if activation == "tanh" else nn.ReLU
        self.first_part = nn.Sequential(
            nn.Conv2d(num_channels, 64, 5, padding=2), act(),
            nn.Conv2d(64, 32, 3, padding=1), act())
        self.last_part = nn.Sequential(
            nn.Conv2d(32, num_channels * scale_factor ** 2, 3, padding=1), nn.PixelShuffle(scale_factor))
        self._initialize_weights()

    @torch.no_grad()
    def _initialize_weights(self):
        # yjn870: N(0, 0.001) for the sub-pixel conv, He-style normal N(0, 2 / (out * k * k)) for the others.
        convs = [self.first_part[0], self.first_part[2], self.last_part[0]]
        for i, mod in enumerate(convs):
            std = 0.001 if i == 2 else math.sqrt(2 / (mod.out_channels * mod.weight[0][0].numel()))
            nn.init.normal_(mod.weight, 0.0, std)
            nn.init.zeros_(mod.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.num_channels)
        return self.last_part(self.first_part(x))
