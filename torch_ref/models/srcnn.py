"""SRCNN and FSRCNN in PyTorch (NCHW): the twin of jrestore.models.srcnn.

Papers: C. Dong, C. C. Loy, K. He, X. Tang, "Image Super-Resolution Using Deep Convolutional Networks",
TPAMI 2016 (SRCNN); C. Dong, C. C. Loy, X. Tang, "Accelerating the Super-Resolution Convolutional Neural
Network", ECCV 2016 (FSRCNN). Layouts are those of yjn870/SRCNN-pytorch `models.py` and
yjn870/FSRCNN-pytorch `models.py`, so their checkpoints load with `load_state_dict` unchanged.

Parity notes: see jrestore.models.srcnn (kernel table, output shrink and argument checks are imported
from there so they are defined once).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from jrestore._validate import check_image
from jrestore.core.models.srcnn import check_fsrcnn_args, srcnn_config
from torch_ref.models._registry import register

__all__ = ["SRCNN", "FSRCNN"]


@register("srcnn")
class SRCNN(nn.Module):
    """SRCNN: x [B, C, H, W] (bicubic-upsampled image) -> [B, C, H - shrink, W - shrink] (shrink 0 for 'same')."""

    def __init__(self, num_channels: int = 1, variant: str = "955", padding: str = "same"):
        super().__init__()
        (k1, k2, k3), pads, self.shrink = srcnn_config(num_channels, variant, padding)
        self.num_channels, self.variant, self.padding = num_channels, variant, padding
        self.conv1 = nn.Conv2d(num_channels, 64, k1, padding=pads[0])
        self.conv2 = nn.Conv2d(64, 32, k2, padding=pads[1])
        self.conv3 = nn.Conv2d(32, num_channels, k3, padding=pads[2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.num_channels, min_size=self.shrink + 1)
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.conv3(x)


@register("fsrcnn")
class FSRCNN(nn.Module):
    """FSRCNN: LR x [B, C, H, W] -> HR [B, C, H * scale_factor, W * scale_factor]."""

    def __init__(self, scale_factor: int = 3, num_channels: int = 1, d: int = 56, s: int = 12, m: int = 4,
                 prelu_split: bool = False):
        super().__init__()
        check_fsrcnn_args(scale_factor, num_channels, d, s, m, prelu_split)
        self.scale_factor, self.num_channels = scale_factor, num_channels
        w = 2 if prelu_split else 1  # prelu_split: see jrestore.models.srcnn's parity notes
        d, s = w * d, w * s

        def act(n):
            return nn.ReLU() if prelu_split else nn.PReLU(n)
        self.first_part = nn.Sequential(nn.Conv2d(num_channels, d, 5, padding=2), act(d))
        mid = [nn.Conv2d(d, s, 1), act(s)]
        for _ in range(m):
            mid += [nn.Conv2d(s, s, 3, padding=1), act(s)]
        mid += [nn.Conv2d(s, d, 1), act(d)]
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(d, num_channels, 9, stride=scale_factor, padding=4,
                                            output_padding=scale_factor - 1)
        self._initialize_weights()

    @torch.no_grad()
    def _initialize_weights(self):
        # yjn870: He-style normal (std sqrt(2 / (out * k * k))) for the convs, N(0, 0.001) for the deconv.
        for mod in list(self.first_part) + list(self.mid_part):
            if isinstance(mod, nn.Conv2d):
                nn.init.normal_(mod.weight, 0.0, math.sqrt(2 / (mod.out_channels * mod.weight[0][0].numel())))
                nn.init.zeros_(mod.bias)
        nn.init.normal_(self.last_part.weight, 0.0, 0.001)
        nn.init.zeros_(self.last_part.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.num_channels)
        return self.last_part(self.mid_part(self.first_part(x)))
