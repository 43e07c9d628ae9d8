"""Twin of jrestore.ops.pixel_shuffle: PyTorch's own pixel (un)shuffle on NCHW tensors."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from jrestore._validate import check_divisible, check_image
from jrestore.core.ops.pixel_shuffle import check_factor

__all__ = ["pixel_shuffle", "pixel_unshuffle"]


def pixel_shuffle(x: torch.Tensor, r: int) -> torch.Tensor:
    """x: [B, C * r * r, H, W] float -> [B, C, H * r, W * r]."""
    check_factor(r)
    check_image(x, "x", layout="NCHW")
    check_divisible(x.shape[1], f"x channels (pixel_shuffle r={r} needs r*r | C)", r * r)
    return F.pixel_shuffle(x, r)


def pixel_unshuffle(x: torch.Tensor, r: int) -> torch.Tensor:
    """x: [B, C, H * r, W * r] float -> [B, C * r * r, H, W]."""
    check_factor(r)
    check_image(x, "x", layout="NCHW", multiple_of=r)
    return F.pixel_unshuffle(x, r)
