"""Twins of jrestore.layers.attention (NCHW): the design's PyTorch (seed 001, sections 4.3 and SAGAN)."""
from __future__ import annotations

import torch
from torch import nn

from jrestore._validate import check_image
from jrestore.core.layers.attention import check_attention_args, check_chunk_size, resolve_chunk_size

__all__ = ["ChannelAttention", "SelfAttention2d"]


class ChannelAttention(nn.Module):
    """x [B, channels, H, W] -> x * (fc(avg_pool(x)) + fc(max_pool(x))), a sigmoid inside each fc branch."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = check_attention_args(channels, reduction, "channels", "reduction")
        self.channels = channels
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels),
                                nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.channels)
        b, c, _, _ = x.size()
        y_avg = self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)
        y_max = self.fc(self.max_pool(x).view(b, c)).view(b, c, 1, 1)
        y = y_avg + y_max
        return x * y.expand_as(x)


class SelfAttention2d(nn.Module):
    """SAGAN self-attention: x [B, in_dim, H, W] -> gamma * attention(x) + x.

    chunk_size as jrestore's (None, a positive int or "auto", the default): a Python loop over the same blocks
    of query rows, so one [B, rows, HW] attention block is live at a time under no_grad (autograd keeps
    every block's softmax for the backward pass: no memory saving when training).
    """

    def __init__(self, in_dim: int, chunk_size: int | str | None = "auto"):
        super().__init__()
        d = check_attention_args(in_dim, 8, "in_dim", "8")
        check_chunk_size(chunk_size)
        self.in_dim, self.chunk_size = in_dim, chunk_size
        self.query_conv = nn.Conv2d(in_dim, d, 1)
        self.key_conv = nn.Conv2d(in_dim, d, 1)
        self.value_conv = nn.Conv2d(in_dim, in_dim, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.in_dim)
        batch, c, height, width = x.size()
        n = height * width
        proj_query = self.query_conv(x).view(batch, -1, n).permute(0, 2, 1)
        proj_key = self.key_conv(x).view(batch, -1, n)
        proj_value = self.value_conv(x).view(batch, -1, n)
        size = resolve_chunk_size(self.chunk_size, n) or n
        outs = []
        for start in range(0, n, size):  # rows of the attention matrix are independent
            attention = self.softmax(torch.bmm(proj_query[:, start:start + size], proj_key))
            outs.append(torch.bmm(proj_value, attention.permute(0, 2, 1)))
        out = torch.cat(outs, dim=2).view(batch, c, height, width)
        return self.gamma * out + x
