"""The framework-neutral part of jrestore.layers.conv: its argument checks, constants and NumPy helpers.

Shared by jrestore.layers.conv and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["pair"]


def pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
