"""BasicSR's MSRResNet and VGGStyleDiscriminator in PyTorch (NCHW): the twin of jrestore.models.basicsr_sr.

Papers: C. Ledig et al., CVPR 2017 (SRResNet / SRGAN); X. Wang et al., ESRGAN, ECCV Workshops 2018.
Written after XPixelGroup/BasicSR `basicsr/archs/srresnet_arch.py` (`MSRResNet`),
`basicsr/archs/discriminator_arch.py` (`VGGStyleDiscriminator`) and `basicsr/archs/arch_util.py`
(`ResidualBlockNoBN`, `default_init_weights`): same module names, so BasicSR state dicts load unchanged.
Parity notes: see jrestore.models.basicsr_sr (argument and input checks are imported from there); the
bilinear base is BasicSR's own `F.interpolate(x, scale_factor=upscale, mode='bilinear', align_corners=False)`.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from jrestore._validate import check_image
from jrestore.core.models.basicsr_sr import (check_msrresnet_args, check_vgg_discriminator_args,
                                        check_vgg_discriminator_input, vgg_discriminator_widths)
from torch_ref.layers.blocks import ResidualBlockNoBN
from torch_ref.layers.init import init_weights, kaiming_normal
from torch_ref.models._registry import register

__all__ = ["MSRResNet", "VGGStyleDiscriminator"]


@register("msrresnet")
class MSRResNet(nn.Module):
    """BasicSR MSRResNet: LR x [B, num_in_ch, H, W] -> HR [B, num_out_ch, H * upscale, W * upscale]."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 upscale: int = 4):
        super().__init__()
        check_msrresnet_args(num_in_ch, num_out_ch, num_feat, num_block, upscale)
        self.upscale, self.num_in_ch = upscale, num_in_ch
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat=num_feat) for _ in range(num_block)])
        if upscale in (2, 3):
            self.upconv1 = nn.Conv2d(num_feat, num_feat * upscale * upscale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(upscale)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        # BasicSR default_init_weights([...], 0.1): kaiming_normal_ (fan_in) x 0.1, zero bias
        convs = [self.conv_first, self.upconv1, self.conv_hr, self.conv_last]
        if upscale == 4:
            convs.append(self.upconv2)
        init_weights(convs, kaiming_normal, scale=0.1, bias_fill=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.num_in_ch)
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upscale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        return out + base  # BasicSR: out += base (out-of-place here, so a 1-channel base broadcasts either way)


@register("vgg_style_discriminator")
class VGGStyleDiscriminator(nn.Module):
    """BasicSR VGG-style D: x [B, num_in_ch, input_size, W] -> logits [B, 1] (input_size 128 or 256)."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128):
        super().__init__()
        check_vgg_discriminator_args(num_in_ch, num_feat, input_size)
        widths = vgg_discriminator_widths(num_feat, input_size)
        self.num_in_ch, self.input_size, self.num_stages = num_in_ch, input_size, len(widths)
        self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat, affine=True)
        for i in range(1, len(widths)):
            cin, cout = widths[i - 1], widths[i]
            setattr(self, f"conv{i}_0", nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
            setattr(self, f"bn{i}_0", nn.BatchNorm2d(cout, affine=True))
            setattr(self, f"conv{i}_1", nn.Conv2d(cout, cout, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(cout, affine=True))
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_vgg_discriminator_input(x, self.input_size, self.num_in_ch, layout="NCHW")
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, self.num_stages):
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        feat = feat.view(feat.size(0), -1)
        return self.linear2(self.lrelu(self.linear1(feat)))
