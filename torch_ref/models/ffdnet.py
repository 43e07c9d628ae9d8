"""FFDNet in PyTorch (NCHW): the twin of jrestore.models.ffdnet.

Paper: K. Zhang, W. Zuo, L. Zhang, "FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image
Denoising", IEEE TIP 2018. Layout of cszn/KAIR `models/network_ffdnet.py` (`m_down`, `model.{i}`, `m_up`),
so KAIR checkpoints load with `load_state_dict` unchanged.
Parity notes: see jrestore.models.ffdnet (argument and sigma checks are imported from there).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from jrestore._validate import check_image
from jrestore.core.models.ffdnet import SF, check_ffdnet_args, check_sigma, even_padding
from torch_ref.models._registry import register
from torch_ref.models.dncnn import kair_conv_stack

__all__ = ["FFDNet"]


@register("ffdnet")
class FFDNet(nn.Module):
    """FFDNet: (x [B, in_nc, H, W], sigma [B, 1, 1, 1] or scalar on the [0, 1] scale) -> [B, out_nc, H, W]."""

    def __init__(self, in_nc: int = 1, out_nc: int = 1, nc: int = 64, nb: int = 15, act_mode: str = "R"):
        super().__init__()
        check_ffdnet_args(in_nc, out_nc, nc, nb, act_mode)
        self.in_nc = in_nc
        self.m_down = nn.PixelUnshuffle(SF)
        self.model = kair_conv_stack(in_nc * SF * SF + 1, out_nc * SF * SF, nc, nb, act_mode)
        self.m_up = nn.PixelShuffle(SF)

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        check_image(x, "x", layout="NCHW", channels=self.in_nc)
        b, _, h, w = x.shape
        if check_sigma(sigma, b):
            sigma = torch.full((b, 1, 1, 1), float(sigma), dtype=x.dtype, device=x.device)
        pad_b, pad_r = even_padding(h, w)
        x = F.pad(x, (0, pad_r, 0, pad_b), mode="replicate")  # = nn.ReplicationPad2d((0, pad_r, 0, pad_b))
        x = self.m_down(x)
        m = sigma.to(x.dtype).repeat(1, 1, x.shape[-2], x.shape[-1])
        x = self.model(torch.cat((x, m), 1))
        return self.m_up(x)[..., :h, :w]
