"""WASA (wavelet + attention super-resolution) in PyTorch (NCHW): the twin of jrestore.models.wasa.

Design: the WASA sketch (docs/conventions.md §15; its `WASA` / `RWAB` with the same module names, so its
state dicts load unchanged). Argument and input checks come from jrestore.models.wasa.
Parity notes: see jrestore.models.wasa. The skip branch upsamples with the sketch's
F.interpolate(scale_factor=scale, mode='bicubic', align_corners=False); DWT / IWT are torch_ref.ops.wavelet
(the IWT stacks rather than writing into a float32 zeros buffer); sums are out-of-place.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jrestore.core.models.wasa import check_wasa_args, check_wasa_input
from torch_ref.layers.attention import ChannelAttention, SelfAttention2d
from torch_ref.models._registry import register
from torch_ref.ops.wavelet import dwt, iwt

__all__ = ["WASA", "RWAB"]


class RWAB(nn.Module):
    """Residual wavelet-attention block: x [B, num_feat, H, W] (H, W even) -> same shape."""

    def __init__(self, num_feat: int, reduction: int = 16):
        super().__init__()
        c4 = 4 * num_feat
        self.conv1 = nn.Conv2d(c4, c4, 3, 1, 1)
        self.conv2 = nn.Conv2d(c4, c4, 3, 1, 1)
        self.ca = ChannelAttention(c4, reduction)
        self.conv3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(dwt(x)))
        y = iwt(self.ca(self.conv2(y)))
        return self.conv3(y) + x


@register("wasa")
class WASA(nn.Module):
    """WASA: LR x [B, num_channels, H, W] (H, W even) -> HR [B, num_channels, H * scale, W * scale].

    attention_chunk: SelfAttention2d's chunk_size ("auto", None or an int; a loop over query-row blocks).
    """

    def __init__(self, scale: int = 2, num_channels: int = 3, num_feat: int = 64, num_block: int = 16,
                 reduction: int = 16, attention_chunk: int | str | None = "auto"):
        super().__init__()
        stages = check_wasa_args(scale, num_channels, num_feat, num_block, reduction, attention_chunk)
        self.scale, self.num_channels = scale, num_channels
        self.head = nn.Conv2d(num_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RWAB(num_feat, reduction) for _ in range(num_block)])
        self.sa = SelfAttention2d(num_feat, chunk_size=attention_chunk)
        up = []
        for _ in range(stages):
            up += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        self.upsample = nn.Sequential(*up, nn.Conv2d(num_feat, num_channels, 3, 1, 1))
        self.skip = nn.Sequential(nn.Conv2d(num_channels, num_feat, 5, 1, 2), nn.Conv2d(num_feat, num_feat, 3, 1, 1),
                                  nn.Conv2d(num_feat, num_channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_wasa_input(x, self.num_channels, layout="NCHW")
        x_up = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        f = self.head(x)
        y = self.sa(self.body(f)) + f
        return self.upsample(y) + self.skip(x_up)
