"""Argument checks shared by jrestore (NHWC) and torch_ref (NCHW).

Every public op, layer and model validates its inputs with these helpers so that bad input ends in one
`ValueError` naming the argument, what was expected and what came, in both frameworks alike. They look
only at static shapes and dtypes, so they are free under `jax.jit` tracing.
"""
from __future__ import annotations

import sys
from typing import Iterable, Sequence

import numpy as np

__all__ = ["check_image", "check_float", "check_choice", "check_divisible", "check_positive", "check_int", "channel_axis"]


def channel_axis(layout: str) -> int:
    if layout == "NHWC":
        return -1
    if layout == "NCHW":
        return 1
    raise ValueError(f"layout: expected 'NHWC' or 'NCHW', got {layout!r}")


def _is_float(x) -> bool:
    if hasattr(x, "is_floating_point"):  # torch.Tensor
        return bool(x.is_floating_point())
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return False
    # bfloat16 and friends are floating for jnp, not for plain numpy. Only ask JAX when it is already loaded (a
    # JAX array cannot exist otherwise): this module is framework-neutral and never imports it.
    jnp = sys.modules.get("jax.numpy")
    if jnp is not None:
        return bool(jnp.issubdtype(dtype, jnp.floating))
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return False
    ml_dtypes = sys.modules.get("ml_dtypes")  # NumPy arrays of bfloat16 / float8 (kind 'V') without JAX
    if ml_dtypes is not None and dtype.kind == "V":
        try:
            ml_dtypes.finfo(dtype)
            return True
        except (TypeError, ValueError):
            return False
    return bool(np.issubdtype(dtype, np.floating))


def check_float(x, name: str) -> None:
    """Raise unless `x` has a floating dtype."""
    if not _is_float(x):
        raise ValueError(f"{name}: expected a floating-point array, got dtype {getattr(x, 'dtype', type(x).__name__)}")


def check_image(
    x,
    name: str = "x",
    *,
    layout: str = "NHWC",
    rank: int | Sequence[int] = 4,
    channels: int | Iterable[int] | None = None,
    multiple_of: int | None = None,
    min_size: int | None = None,
    floating: bool = True,
) -> None:
    """Validate an image tensor.

    Args:
      x: array or tensor; [B, H, W, C] for NHWC, [B, C, H, W] for NCHW (rank 3 drops B where allowed).
      name: the argument's name, used in the message.
      layout: 'NHWC' (jrestore) or 'NCHW' (torch_ref).
      rank: allowed rank(s).
      channels: allowed channel count(s), or None for any.
      multiple_of: H and W must be multiples of this (e.g. 2 for a Haar DWT).
      min_size: H and W must be at least this.
      floating: require a floating dtype.
    """
    shape = tuple(getattr(x, "shape", ()))
    ranks = (rank,) if isinstance(rank, int) else tuple(rank)
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        form = "[B, H, W, C]" if layout == "NHWC" else "[B, C, H, W]"
        raise ValueError(f"{name}: expected a rank-{want} {layout} array {form}, got shape {shape}")
    if floating:
        check_float(x, name)
    c_axis = channel_axis(layout)
    if layout == "NHWC":
        h, w = shape[-3], shape[-2]
    else:
        h, w = shape[-2], shape[-1]
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if shape[c_axis] not in allowed:
            want = " or ".join(str(c) for c in allowed)
            raise ValueError(f"{name}: expected {want} channels ({layout}), got {shape[c_axis]} in shape {shape}")
    if multiple_of is not None and (h % multiple_of or w % multiple_of):
        raise ValueError(f"{name}: expected height and width divisible by {multiple_of}, got {h}x{w}")
    if min_size is not None and (h < min_size or w < min_size):
        raise ValueError(f"{name}: expected height and width of at least {min_size}, got {h}x{w}")


def check_choice(value, name: str, choices: Iterable) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")


def check_divisible(value: int, name: str, divisor: int) -> None:
    if value % divisor:
        raise ValueError(f"{name}: expected a multiple of {divisor}, got {value}")


def check_positive(value, name: str, *, strict: bool = True) -> None:
    bad = value <= 0 if strict else value < 0
    if bad:
        raise ValueError(f"{name}: expected a {'positive' if strict else 'non-negative'} value, got {value!r}")


def check_int(value, name: str, minimum: int = 1) -> None:
    """value must be an int (not bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
