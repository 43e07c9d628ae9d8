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
  identity). Pixels are flattened row-major (h * W + w) in both frameworks; the seed's
  `width, height = x.size()[2:]` only names H and W the other way round. Products use precision HIGHEST.
  The attention matrix is [B, HW, HW]; `chunk_size` computes it in blocks of query rows (exact: each
  softmax row is independent), rematerialised in the backward pass, to bound memory on large inputs.
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

__all__ = ["ChannelAttention", "SelfAttention2d", "check_attention_args", "check_chunk_size"]

_HI = jax.lax.Precision.HIGHEST


def check_attention_args(channels: int, divisor: int, name: str, divisor_name: str) -> int:
    """channels // divisor, which must be >= 1."""
    for value, n in ((channels, name), (divisor, divisor_name)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{n}: expected a positive int, got {value!r}")
    if channels // divisor < 1:
        raise ValueError(f"{name}: expected at least {divisor} channels ({name} // {divisor} >= 1), got {channels}")
    return channels // divisor


def check_chunk_size(chunk_size) -> None:
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size: expected None or a positive int, got {chunk_size!r}")


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

    Args: in_dim (>= 8); chunk_size: None (one [B, HW, HW] matrix) or the number of query pixels per block.
    """

    def __init__(self, in_dim: int, chunk_size: int | None = None, *, rngs: nnx.Rngs):
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
        if self.chunk_size is None or self.chunk_size >= n:
            out = _attend(q, k, v)
        else:
            size = self.chunk_size
            blocks = -(-n // size)
            qp = jnp.pad(q, ((0, 0), (0, blocks * size - n), (0, 0)))
            qp = qp.reshape(b, blocks, size, -1).swapaxes(0, 1)  # [blocks, B, size, d]
            out = jax.lax.map(jax.checkpoint(lambda qi: _attend(qi, k, v)), qp)
            out = out.swapaxes(0, 1).reshape(b, blocks * size, c)[:, :n]
        return self.gamma[...] * out.reshape(b, h, w, c) + x
