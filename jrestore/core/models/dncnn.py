"""The framework-neutral part of jrestore.models.dncnn: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.dncnn and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_choice, check_int

__all__ = ["ACT_MODES", "DNCNN_VARIANTS", "KAIR_BN", "LEAKY_SLOPE", "check_act_mode", "check_dncnn_args"]


ACT_MODES = ("R", "BR", "L", "BL")


DNCNN_VARIANTS = ("plain", "residual", "separable")


KAIR_BN = {"eps": 1e-4, "momentum": 0.9}  # basicblock.conv 'B': PyTorch momentum convention


LEAKY_SLOPE = 0.2  # basicblock.conv default negative_slope


def check_act_mode(act_mode) -> tuple[bool, str]:
    """(use BN, activation letter 'R' | 'L') for a KAIR act_mode."""
    check_choice(act_mode, "act_mode", ACT_MODES)
    return act_mode.startswith("B"), act_mode[-1]


def check_dncnn_args(in_nc: int, out_nc: int, nc: int, nb: int, act_mode: str, variant: str) -> tuple[bool, str]:
    for value, name in ((in_nc, "in_nc"), (out_nc, "out_nc"), (nc, "nc")):
        check_int(value, name)
    check_int(nb, "nb", minimum=2)
    check_choice(variant, "variant", DNCNN_VARIANTS)
    if out_nc != in_nc:
        raise ValueError(f"out_nc: DnCNN returns x - model(x), so expected out_nc == in_nc ({in_nc}), got {out_nc}")
    return check_act_mode(act_mode)
