"""The framework-neutral part of jrestore.models.srcnn: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.srcnn and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_choice, check_int

__all__ = ["SRCNN_KERNELS", "check_fsrcnn_args", "srcnn_config"]


SRCNN_KERNELS = {"915": (9, 1, 5), "955": (9, 5, 5)}


def srcnn_config(num_channels: int, variant: str, padding: str) -> tuple[tuple, tuple, int]:
    """Validated SRCNN layout: (kernel sizes, per-layer padding, total output shrink in pixels)."""
    check_int(num_channels, "num_channels")
    check_choice(variant, "variant", SRCNN_KERNELS)
    check_choice(padding, "padding", ("same", "valid"))
    kernels = SRCNN_KERNELS[variant]
    if padding == "same":
        return kernels, tuple(k // 2 for k in kernels), 0
    return kernels, (0, 0, 0), sum(k - 1 for k in kernels)


def check_fsrcnn_args(scale_factor: int, num_channels: int, d: int, s: int, m: int) -> None:
    check_int(scale_factor, "scale_factor")
    check_int(num_channels, "num_channels")
    check_int(d, "d")
    check_int(s, "s")
    check_int(m, "m", minimum=0)
