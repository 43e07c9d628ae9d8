"""The framework-neutral part of jrestore.losses.cs: its argument checks, constants and NumPy helpers.

Shared by jrestore.losses.cs and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_float

__all__ = ["check_ista_net_loss_args", "check_symlosses"]


def check_symlosses(symlosses) -> None:
    if not isinstance(symlosses, (list, tuple)) or not symlosses:
        raise ValueError(f"symlosses: expected a non-empty list or tuple of arrays (one per phase), "
                         f"got {type(symlosses).__name__}")
    for k, s in enumerate(symlosses):
        check_float(s, f"symlosses[{k}]")


def check_ista_net_loss_args(x_rec, x_target, symlosses, gamma) -> None:
    check_float(x_rec, "x_rec")
    check_float(x_target, "x_target")
    if tuple(x_target.shape) != tuple(x_rec.shape):
        raise ValueError(f"x_target: expected the shape of x_rec {tuple(x_rec.shape)}, got {tuple(x_target.shape)}")
    check_symlosses(symlosses)
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
        raise ValueError(f"gamma: expected a non-negative number (official: 0.01), got {gamma!r}")
