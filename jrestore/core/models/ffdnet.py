"""The framework-neutral part of jrestore.models.ffdnet: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.ffdnet and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_float, check_int
from jrestore.core.models.dncnn import check_act_mode

__all__ = ["SF", "check_ffdnet_args", "check_sigma", "even_padding"]


SF = 2  # KAIR's fixed down-sampling factor


def check_ffdnet_args(in_nc: int, out_nc: int, nc: int, nb: int, act_mode: str) -> None:
    for value, name in ((in_nc, "in_nc"), (out_nc, "out_nc"), (nc, "nc")):
        check_int(value, name)
    check_int(nb, "nb", minimum=2)
    check_act_mode(act_mode)


def check_sigma(sigma, batch: int) -> bool:
    """Validate FFDNet's noise level; returns True for a scalar (to broadcast), False for a [B, 1, 1, 1] array."""
    if isinstance(sigma, bool):
        raise ValueError(f"sigma: expected a float or a float array of shape ({batch}, 1, 1, 1), got {sigma!r}")
    if isinstance(sigma, (int, float)):
        return True
    shape = tuple(getattr(sigma, "shape", ()))
    if not hasattr(sigma, "shape") or shape not in ((), (batch, 1, 1, 1)):
        raise ValueError(f"sigma: expected a scalar or shape ({batch}, 1, 1, 1) (one noise level per image), "
                         f"got {shape if hasattr(sigma, 'shape') else type(sigma).__name__}")
    check_float(sigma, "sigma")
    return shape == ()


def even_padding(h: int, w: int) -> tuple[int, int]:
    """(bottom, right) replicate padding that makes h and w even (KAIR: ceil(h / 2) * 2 - h)."""
    return h % SF, w % SF
