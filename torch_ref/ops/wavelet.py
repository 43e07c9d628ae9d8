"""Twin of jrestore.ops.wavelet on NCHW tensors (Haar DWT/IWT, MWCNN form, sub-band-major channels).

Unlike MWCNN-style code, `iwt` does not write into a `torch.zeros(...).cuda()` buffer: it stacks and
reshapes, so it runs on the CPU and autograd sees no in-place writes.
"""
from __future__ import annotations

import torch

from jrestore._validate import check_divisible, check_image

__all__ = ["dwt", "iwt"]


def dwt(x: torch.Tensor) -> torch.Tensor:
    """Haar DWT. x: [B, C, H, W] float, H and W even -> [B, 4C, H/2, W/2] as [LL, HL, LH, HH]."""
    check_image(x, "x", layout="NCHW", multiple_of=2)
    x01 = x[:, :, 0::2, :] / 2
    x02 = x[:, :, 1::2, :] / 2
    x1 = x01[:, :, :, 0::2]
    x2 = x02[:, :, :, 0::2]
    x3 = x01[:, :, :, 1::2]
    x4 = x02[:, :, :, 1::2]
    ll = x1 + x2 + x3 + x4
    hl = -x1 - x2 + x3 + x4
    lh = -x1 + x2 - x3 + x4
    hh = x1 - x2 - x3 + x4
    return torch.cat((ll, hl, lh, hh), 1)


def iwt(x: torch.Tensor) -> torch.Tensor:
    """Inverse Haar DWT. x: [B, 4C, h, w] float as [LL, HL, LH, HH] -> [B, C, 2h, 2w]."""
    check_image(x, "x", layout="NCHW")
    check_divisible(x.shape[1], "x channels", 4)
    b, c4, h, w = x.shape
    c = c4 // 4
    x1, x2, x3, x4 = (x[:, i * c:(i + 1) * c] / 2 for i in range(4))
    even_row = torch.stack((x1 - x2 - x3 + x4, x1 + x2 - x3 - x4), dim=-1)  # columns 0::2, 1::2
    odd_row = torch.stack((x1 - x2 + x3 - x4, x1 + x2 + x3 + x4), dim=-1)
    # [B, C, h, 2 (row parity), w, 2 (column parity)] -> [B, C, 2h, 2w]
    return torch.stack((even_row, odd_row), dim=3).reshape(b, c, 2 * h, 2 * w)
