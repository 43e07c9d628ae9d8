"""Pooling (NHWC) with PyTorch's semantics: torch.nn.MaxPool2d for non-overlapping windows."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jrestore._validate import check_image, check_int

__all__ = ["MaxPool2d"]


class MaxPool2d(nnx.Module):
    """torch.nn.MaxPool2d(kernel_size, stride=kernel_size, ceil_mode) with non-overlapping windows, no padding.

    x [B, H, W, C] -> [B, H // k, W // k, C] (ceil_mode=False) or [B, ceil(H / k), ceil(W / k), C]
    (ceil_mode=True: the last, partial window takes the max of what it covers, as in PyTorch).
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None, ceil_mode: bool = False):
        check_int(kernel_size, "kernel_size")
        if stride is not None and stride != kernel_size:
            raise ValueError(f"stride: only non-overlapping windows (stride == kernel_size = {kernel_size}) are "
                             f"supported, got {stride!r}")
        self.kernel_size, self.ceil_mode = kernel_size, bool(ceil_mode)

    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        check_image(x, "x", min_size=1 if self.ceil_mode else k)
        h, w = x.shape[1:3]
        if self.ceil_mode:
            pad = ((0, 0), (0, -h % k), (0, -w % k), (0, 0))  # filled with -inf, the identity of max
        else:
            x = x[:, : h - h % k, : w - w % k]
            pad = ((0, 0),) * 4
        # reduce_window's gradient (select-and-scatter) picks the first maximum of a window, as PyTorch's
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, k, k, 1), (1, k, k, 1), pad)
