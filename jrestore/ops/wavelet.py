"""Haar discrete wavelet transform in the MWCNN form used by the wavelet-attention SR design (WASA).

Parity notes (docs/conventions.md §13): the sub-bands are concatenated on channels sub-band-major,
[LL(C), HL(C), LH(C), HH(C)]. That is NOT a pixel-unshuffle, whose channel order is (c, i, j). The
transform is orthonormal (each coefficient carries a factor 1/2), so `iwt(dwt(x)) == x` up to rounding.
`iwt` is built with stack + reshape rather than strided writes into a zeros buffer.
"""
from __future__ import annotations

import jax.numpy as jnp

from jrestore._validate import check_divisible, check_image

__all__ = ["dwt", "iwt"]


def dwt(x: jnp.ndarray) -> jnp.ndarray:
    """Haar DWT.

    Args:
      x: [B, H, W, C] float, H and W even.
    Returns:
      [B, H/2, W/2, 4C]: channels [LL, HL, LH, HH], each C wide.
    """
    check_image(x, "x", multiple_of=2)
    x01 = x[:, 0::2] / 2  # even rows
    x02 = x[:, 1::2] / 2  # odd rows
    x1 = x01[:, :, 0::2]
    x2 = x02[:, :, 0::2]
    x3 = x01[:, :, 1::2]
    x4 = x02[:, :, 1::2]
    ll = x1 + x2 + x3 + x4
    hl = -x1 - x2 + x3 + x4
    lh = -x1 + x2 - x3 + x4
    hh = x1 - x2 - x3 + x4
    return jnp.concatenate([ll, hl, lh, hh], axis=-1)


def iwt(x: jnp.ndarray) -> jnp.ndarray:
    """Inverse Haar DWT, the exact inverse of `dwt`.

    Args:
      x: [B, h, w, 4C] float, channels [LL, HL, LH, HH] as `dwt` returns them.
    Returns:
      [B, 2h, 2w, C].
    """
    check_image(x, "x")
    check_divisible(x.shape[-1], "x channels", 4)
    b, h, w, c4 = x.shape
    c = c4 // 4
    x1, x2, x3, x4 = (x[..., i * c:(i + 1) * c] / 2 for i in range(4))
    even_row = jnp.stack([x1 - x2 - x3 + x4, x1 + x2 - x3 - x4], axis=3)  # columns 0::2, 1::2
    odd_row = jnp.stack([x1 - x2 + x3 - x4, x1 + x2 + x3 + x4], axis=3)
    # [B, h, 2 (row parity), w, 2 (column parity), C] -> [B, 2h, 2w, C]
    return jnp.stack([even_row, odd_row], axis=2).reshape(b, 2 * h, 2 * w, c)
