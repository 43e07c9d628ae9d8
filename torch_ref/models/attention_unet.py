"""Attention U-Net in PyTorch (NCHW): the twin of jrestore.models.attention_unet.

Paper: O. Oktay et al., "Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018. Layout of
LeeJunHyun/Image_Segmentation `network.py` `AttU_Net` (`Conv1..`, `Up{l}`, `Att{l}`, `Up_conv{l}`,
`Conv_1x1`), generalised to a configurable width and depth; num_feat=64, depth=4 is AttU_Net itself.
Parity notes: see jrestore.models.attention_unet (argument checks and widths are imported from there).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from jrestore._validate import check_image
from jrestore.core.models.attention_unet import check_attention_unet_args, unet_widths
from torch_ref.models._registry import register

__all__ = ["AttentionUNet", "AttentionBlock", "ConvBlock", "UpConv"]


class ConvBlock(nn.Module):
    """[conv3x3, BN, ReLU] x 2: [B, ch_in, H, W] -> [B, ch_out, H, W] (AttU_Net's conv_block)."""

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(ch_in, ch_out, 3, 1, 1), nn.BatchNorm2d(ch_out), nn.ReLU(inplace=True),
            nn.Conv2d(ch_out, ch_out, 3, 1, 1), nn.BatchNorm2d(ch_out), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UpConv(nn.Module):
    """nearest x2, conv3x3, BN, ReLU: [B, ch_in, H, W] -> [B, ch_out, 2H, 2W] (AttU_Net's up_conv)."""

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(ch_in, ch_out, 3, 1, 1),
                                nn.BatchNorm2d(ch_out), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


class AttentionBlock(nn.Module):
    """Additive attention gate (AttU_Net's Attention_block): (g, x) -> x * psi, psi [B, 1, H, W]."""

    def __init__(self, F_g: int, F_l: int, F_int: int):  # noqa: N803 (AttU_Net's names)
        super().__init__()
        self.W_g = nn.Sequential(nn.Conv2d(F_g, F_int, 1, 1, 0), nn.BatchNorm2d(F_int))
        self.W_x = nn.Sequential(nn.Conv2d(F_l, F_int, 1, 1, 0), nn.BatchNorm2d(F_int))
        self.psi = nn.Sequential(nn.Conv2d(F_int, 1, 1, 1, 0), nn.BatchNorm2d(1), nn.Sigmoid())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x * self.psi(self.relu(self.W_g(g) + self.W_x(x)))


@register("attention_unet")
class AttentionUNet(nn.Module):
    """Attention U-Net: x [B, img_ch, H, W], H and W divisible by 2**depth -> [B, output_ch, H, W]."""

    def __init__(self, img_ch: int = 1, output_ch: int = 1, num_feat: int = 64, depth: int = 4,
                 residual: bool = False):
        super().__init__()
        check_attention_unet_args(img_ch, output_ch, num_feat, depth, residual)
        self.img_ch, self.depth, self.residual = img_ch, depth, residual
        w = unet_widths(num_feat, depth)
        self.Maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        for i, (cin, cout) in enumerate(zip([img_ch] + w[:-1], w)):
            setattr(self, f"Conv{i + 1}", ConvBlock(cin, cout))
        for level in range(depth + 1, 1, -1):
            c = w[level - 2]
            setattr(self, f"Up{level}", UpConv(2 * c, c))
            setattr(self, f"Att{level}", AttentionBlock(F_g=c, F_l=c, F_int=c // 2))
            setattr(self, f"Up_conv{level}", ConvBlock(2 * c, c))
        self.Conv_1x1 = nn.Conv2d(num_feat, output_ch, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.img_ch, multiple_of=2 ** self.depth)
        skips = [self.Conv1(x)]
        for level in range(2, self.depth + 2):
            skips.append(getattr(self, f"Conv{level}")(self.Maxpool(skips[-1])))
        d = skips.pop()
        for level in range(self.depth + 1, 1, -1):
            d = getattr(self, f"Up{level}")(d)
            s = getattr(self, f"Att{level}")(g=d, x=skips.pop())
            d = getattr(self, f"Up_conv{level}")(torch.cat((s, d), dim=1))
        out = self.Conv_1x1(d)
        return x - out if self.residual else out
