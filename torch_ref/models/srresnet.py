"""SRResNet (the SRGAN generator) and the SRGAN discriminator in PyTorch (NCHW): the twin of
jrestore.models.srresnet.

Paper: C. Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", CVPR 2017. Module layout of Lornatang/SRGAN-PyTorch `model.py` (Generator / Discriminator with
`conv_block1`, `trunk.{i}.rcb`, `conv_block2`, `upsampling.{i}.upsample_block`, `conv_block3`;
`features`, `classifier`), so its state dicts load unchanged.
Parity notes: see jrestore.models.srresnet (argument and input checks are imported from there).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from jrestore._validate import check_image
from jrestore.core.models.srresnet import check_discriminator_args, check_discriminator_input, check_srresnet_args
from torch_ref.models._registry import register

__all__ = ["SRResNet", "SRGANDiscriminator", "ResidualConvBlock", "UpsampleBlock"]


class ResidualConvBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus identity: [B, C, H, W] -> [B, C, H, W]."""

    def __init__(self, channels: int):
        super().__init__()
        self.rcb = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.PReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rcb(x) + x


class UpsampleBlock(nn.Module):
    """conv3x3 (C -> 4C), PixelShuffle(2), PReLU: [B, C, H, W] -> [B, C, 2H, 2W]."""

    def __init__(self, channels: int):
        super().__init__()
        self.upsample_block = nn.Sequential(nn.Conv2d(channels, channels * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample_block(x)


@register("srresnet")
class SRResNet(nn.Module):
    """SRResNet: LR x [B, C, H, W] -> HR [B, C, H * scale, W * scale] (linear output, not clamped)."""

    def __init__(self, scale: int = 4, num_channels: int = 3, num_feat: int = 64, num_block: int = 16):
        super().__init__()
        n_up = check_srresnet_args(scale, num_channels, num_feat, num_block)
        self.scale, self.num_channels = scale, num_channels
        self.conv_block1 = nn.Sequential(nn.Conv2d(num_channels, num_feat, 9, 1, 4), nn.PReLU())
        self.trunk = nn.Sequential(*[ResidualConvBlock(num_feat) for _ in range(num_block)])
        self.conv_block2 = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False), nn.BatchNorm2d(num_feat))
        self.upsampling = nn.Sequential(*[UpsampleBlock(num_feat) for _ in range(n_up)])
        self.conv_block3 = nn.Conv2d(num_feat, num_channels, 9, 1, 4)
        self._initialize_weights()

    @torch.no_grad()
    def _initialize_weights(self):
        # Lornatang: kaiming_normal_ (fan_in, gain sqrt(2)) for every conv, zero biases; BN weight 1, bias 0.
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.num_channels)
        out1 = self.conv_block1(x)
        out = out1 + self.conv_block2(self.trunk(out1))
        return self.conv_block3(self.upsampling(out))


def _conv_bn_lrelu(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]


@register("srgan_discriminator")
class SRGANDiscriminator(nn.Module):
    """SRGAN D: x [B, C, input_size, input_size] (or [B, C, h, w] for input_size=(h, w)) -> logits [B, 1]."""

    def __init__(self, num_channels: int = 3, num_feat: int = 64, input_size=96):
        super().__init__()
        self.input_size, (fh, fw) = check_discriminator_args(num_channels, num_feat, input_size)
        self.num_channels = num_channels
        f = num_feat
        layers = [nn.Conv2d(num_channels, f, 3, 1, 1), nn.LeakyReLU(0.2)]
        for cin, cout, stride in ((f, f, 2), (f, 2 * f, 1), (2 * f, 2 * f, 2), (2 * f, 4 * f, 1),
                                  (4 * f, 4 * f, 2), (4 * f, 8 * f, 1), (8 * f, 8 * f, 2)):
            layers += _conv_bn_lrelu(cin, cout, stride)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(8 * f * fh * fw, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_discriminator_input(x, self.input_size, self.num_channels, layout="NCHW")
        return self.classifier(torch.flatten(self.features(x), 1))
