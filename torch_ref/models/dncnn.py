"""DnCNN in PyTorch (NCHW): the twin of jrestore.models.dncnn.

Paper: K. Zhang et al., "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising",
IEEE TIP 2017. Layout of cszn/KAIR `models/network_dncnn.py` (`model.{i}` keys of the flattened
`B.sequential`), so KAIR checkpoints load with `load_state_dict` unchanged (act_mode='R' for the official
BN-folded ones).
Parity notes: see jrestore.models.dncnn (argument checks, act modes and BN settings are imported from there).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from jrestore._validate import check_image
from jrestore.core.models.dncnn import BN_SETTINGS, KAIR_BN, LEAKY_SLOPE, check_act_mode, check_dncnn_args
from torch_ref.layers.blocks import DepthwiseSeparableConv2d
from torch_ref.models._registry import register

__all__ = ["DnCNN", "ResidualBlock", "kair_conv_stack"]


def _act(letter: str) -> nn.Module:
    return nn.ReLU(inplace=True) if letter == "R" else nn.LeakyReLU(LEAKY_SLOPE, inplace=True)


class ResidualBlock(nn.Module):
    """act(bn2(conv2(act(bn1(conv1(x))))) + x), x [B, nc, H, W]; bn1 / bn2 are None without BN."""

    def __init__(self, nc: int, bn: bool = True, act: str = "R", bn_kwargs: dict = KAIR_BN):
        super().__init__()
        self.conv1 = nn.Conv2d(nc, nc, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(nc, **bn_kwargs) if bn else None
        self.conv2 = nn.Conv2d(nc, nc, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(nc, **bn_kwargs) if bn else None
        self.act = nn.ReLU() if act == "R" else nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.act(self.bn1(out) if self.bn1 is not None else out)
        out = self.conv2(out)
        out = self.bn2(out) if self.bn2 is not None else out
        return self.act(out + x)


def kair_conv_stack(in_ch: int, out_ch: int, nc: int, nb: int, act_mode: str, variant: str = "plain",
                    bn_kwargs: dict = KAIR_BN) -> nn.Sequential:
    """KAIR's B.sequential(head, *body, tail), flattened: keys `{i}.weight` as KAIR's `model.{i}`."""
    bn, act = check_act_mode(act_mode)
    layers = [nn.Conv2d(in_ch, nc, 3, 1, 1), _act(act)]
    for _ in range(nb - 2):
        if variant == "residual":
            layers.append(ResidualBlock(nc, bn, act, bn_kwargs))
            continue
        layers.append(DepthwiseSeparableConv2d(nc, nc, 3, 1) if variant == "separable" else nn.Conv2d(nc, nc, 3, 1, 1))
        if bn:
            layers.append(nn.BatchNorm2d(nc, **bn_kwargs))
        layers.append(_act(act))
    layers.append(nn.Conv2d(nc, out_ch, 3, 1, 1))
    return nn.Sequential(*layers)


@register("dncnn")
class DnCNN(nn.Module):
    """DnCNN: noisy x [B, in_nc, H, W] -> denoised [B, in_nc, H, W] = x - model(x)."""

    def __init__(self, in_nc: int = 1, out_nc: int = 1, nc: int = 64, nb: int = 17, act_mode: str = "BR",
                 variant: str = "plain", bn_settings: str = "kair"):
        super().__init__()
        check_dncnn_args(in_nc, out_nc, nc, nb, act_mode, variant, bn_settings)
        self.in_nc = in_nc
        self.model = kair_conv_stack(in_nc, out_nc, nc, nb, act_mode, variant, BN_SETTINGS[bn_settings])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.in_nc)
        return x - self.model(x)
