"""Twins of jrestore.layers.blocks (NCHW), same class, argument and attribute names."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import Sequential

from torch_ref.layers.init import init_weights, kaiming_normal

__all__ = ["Sequential", "DepthwiseSeparableConv2d", "ResidualBlockNoBN", "SRResNetBlock"]


class DepthwiseSeparableConv2d(nn.Module):
    """depthwise kxk (groups=in_ch) then pointwise 1x1: x [B, in_ch, H, W] -> [B, out_ch, H', W']."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size=3, padding=1, bias: bool = True):
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size, padding=padding, groups=in_ch, bias=bias)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlockNoBN(nn.Module):
    """BasicSR's residual block without BN (basicsr/archs/arch_util.py)."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, pytorch_init: bool = False):
        super().__init__()
        self.res_scale = float(res_scale)
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        if not pytorch_init:
            init_weights([self.conv1, self.conv2], kaiming_normal, scale=0.1, bias_fill=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


class SRResNetBlock(nn.Module):
    """SRResNet residual block: x + bn2(conv2(prelu(bn1(conv1(x)))))."""

    def __init__(self, num_feat: int = 64, bias: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))
