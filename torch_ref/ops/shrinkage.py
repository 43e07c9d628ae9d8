"""Twin of jrestore.ops.shrinkage."""
from __future__ import annotations

import torch

from jrestore._validate import check_float

__all__ = ["soft_threshold"]


def soft_threshold(x: torch.Tensor, threshold) -> torch.Tensor:
    """sign(x) * relu(|x| - threshold). x: any shape, float; threshold: scalar or broadcastable tensor."""
    check_float(x, "x")
    return torch.sign(x) * torch.relu(torch.abs(x) - threshold)
