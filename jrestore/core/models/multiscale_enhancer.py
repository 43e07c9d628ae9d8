"""The framework-neutral part of jrestore.models.multiscale_enhancer: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.multiscale_enhancer and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_int

__all__ = ["check_enhancer_args"]


def check_enhancer_args(in_channels: int, num_feat: int) -> None:
    check_int(in_channels, "in_channels")
    check_int(num_feat, "num_feat")
