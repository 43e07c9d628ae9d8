"""Channel attention and SAGAN self-attention (NHWC), as in the wavelet-attention SR design (seed 001).

Parity notes:
- ChannelAttention follows the design's PyTorch (seed 001, section 4.3) exactly:
  `fc = Sequential(Linear(c, c // r), ReLU, Linear(c // r, c), Sigmoid)` is applied to the average-pooled
  AND to the max-pooled descriptor, each branch through its own sigmoid, and the two sigmoids are
  summed: y = fc(avg) + fc(max), so y lies in (0, 2) (CBAM instead sums before one sigmoid); out = x * y.
  The pooled descriptors are [B, C] vectors (`AdaptiveAvgPool2d(1)` / `AdaptiveMaxPool2d(1)` then
  `.view(b, c)`), so the MLP is Linear (keys fc.0.weight [c/r, c], fc.2.weight [c, c/r]), not 1x1 convs.
- SelfAttention2d is the SAGAN `Self_Attn` block: 1x1 query/key convs to in_dim // 8, 1x1 value conv,
  energy = q^T k with NO 1/sqrt(d) scaling (so not flax's dot_product_attention), softmax over keys,
  out = gamma * (v attn^T) + x with gamma a shape-(1,) parameter initialised to 0 (a fresh block is the
  identity). Pixels are flattened row-major (h * W + w) in both frameworks; the WASA sketch's
  `width, height = x.size()[2:]` only names H and W the other way round. Products use precision HIGHEST.
  The attention matrix is [B, HW, HW]; `chunk_size` computes it in blocks of query rows (exact: each
  softmax row is independent), rematerialised in the backward pass, to bound memory on large inputs.
  chunk_size=None is the naive single matrix. "auto" (the default) keeps each block at AUTO_BLOCK_ELEMENTS
  (4096 x 4096) scores: up to 4096 pixels that is the naive matrix, the same code path and bit-identical
  results; above, blocks of 2**24 // HW query rows, which changes only the float32 rounding of the same sums
  (measured: outputs within tolerances.LAYER, gradients within GRADIENT of the naive ones).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_image
from jrestore.layers.activation import ReLU, Sigmoid
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d
from jrestore.layers.linear import Linear
from jrestore.core.layers.attention import (  # noqa: F401  framework-neutral part, shared with torch_ref
    AUTO_BLOCK_ELEMENTS, check_attention_args, check_chunk_size, resolve_chunk_size)

__all__ = ["ChannelAttention", "SelfAttention2d", "check_attention_args", "check_chunk_size", "resolve_chunk_size",
           "AUTO_BLOCK_ELEMENTS"]

_HI = jax.lax.Precision.HIGHEST


class ChannelAttention(nnx.Module):
    """x [B, H, W, channels] float -> x * (fc(avgpool(x)) + fc(maxpool(x))), same shape."""

    def __init__(self, channels: int, reduction: int = 16, *, rngs: nnx.Rngs):
        hidden = check_attention_args(channels, reduction, "channels", "reduction")
        self.channels = channels
        self.fc = Sequential(Linear(channels, hidden, rngs=rngs), ReLU(inplace=True),
                             Linear(hidden, channels, rngs=rngs), Sigmoid())

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.channels)
        y = self.fc(jnp.mean(x, axis=(1, 2))) + self.fc(jnp.max(x, axis=(1, 2)))
        return x * y[:, None, None, :]


def _attend(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """softmax_m(q_n . k_m) v_m: q, k [B, N, d], v [B, M, C] -> [B, N, C]."""
    att = jax.nn.softmax(jnp.einsum("bnd,bmd->bnm", q, k, precision=_HI), axis=-1)
    return jnp.einsum("bnm,bmc->bnc", att, v, precision=_HI)


class SelfAttention2d(nnx.Module):
    """SAGAN self-attention: x [B, H, W, in_dim] float -> gamma * attention(x) + x, same shape.

    Args: in_dim (>= 8); chunk_size: None (one [B, HW, HW] matrix), a positive int (query pixels per block:
    peak [B, chunk_size, HW]; a ragged last block is padded) or "auto" (the default: naive up to 4096 pixels,
    else AUTO_BLOCK_ELEMENTS // HW rows). A static Python value: each (H, W) compiles its own blocking.
    """

    def __init__(self, in_dim: int, chunk_size: int | str | None = "auto", *, rngs: nnx.Rngs):
        d = check_attention_args(in_dim, 8, "in_dim", "8")
        check_chunk_size(chunk_size)
        self.in_dim, self.chunk_size = in_dim, chunk_size
        self.query_conv = Conv2d(in_dim, d, 1, rngs=rngs)
        self.key_conv = Conv2d(in_dim, d, 1, rngs=rngs)
        self.value_conv = Conv2d(in_dim, in_dim, 1, rngs=rngs)
        self.gamma = nnx.Param(jnp.zeros((1,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.in_dim)
        b, h, w, c = x.shape
        n = h * w
        q = self.query_conv(x).reshape(b, n, -1)
        k = self.key_conv(x).reshape(b, n, -1)
        v = self.value_conv(x).reshape(b, n, c)
        size = resolve_chunk_size(self.chunk_size, n)
        if size is None:
            out = _attend(q, k, v)
        else:
            blocks = -(-n // size)
            # zero query rows pad the ragged last block (their softmax is uniform, finite); sliced off below
            qp = jnp.pad(q, ((0, 0), (0, blocks * size - n), (0, 0)))
            qp = qp.reshape(b, blocks, size, -1).swapaxes(0, 1)  # [blocks, B, size, d]
            # lax.map is a loop, so one [B, size, HW] block is live at a time; checkpoint keeps the backward
            # pass from saving every block's softmax (it recomputes one block at a time instead)
            out = jax.lax.map(jax.checkpoint(lambda qi: _attend(qi, k, v)), qp)  # [blocks, B, size, C]
            out = out.swapaxes(0, 1).reshape(b, blocks * size, c)[:, :n]
        return self.gamma[...] * out.reshape(b, h, w, c) + x
