"""The framework-neutral part of jrestore.ops.pixel_shuffle: its argument checks, constants and NumPy helpers.

Shared by jrestore.ops.pixel_shuffle and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

__all__ = ["check_factor"]


def check_factor(r, name: str = "r") -> int:
    """A shuffle factor must be a positive int (bool is not an int here)."""
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"{name}: expected a positive int, got {r!r}")
    return r
