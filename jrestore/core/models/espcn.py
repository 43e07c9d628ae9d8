"""The framework-neutral part of jrestore.models.espcn: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.espcn and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_int

__all__ = ["check_espcn_args"]


def check_espcn_args(scale_factor: int, num_channels: int) -> None:
    check_int(scale_factor, "scale_factor")
    check_int(num_channels, "num_channels")
