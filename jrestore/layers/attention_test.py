"""ChannelAttention and SelfAttention2d against float64 NumPy transcriptions of the seed's PyTorch."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import ChannelAttention, SelfAttention2d
from parity_tests.tolerances import LAYER


def _w(conv):  # 1x1 conv kernel [1, 1, in, out] -> [in, out] float64
    return np.asarray(conv.weight[...], np.float64)[0, 0], np.asarray(conv.bias[...], np.float64)


def _np_sagan(x, m):
    b, h, w, c = x.shape
    x = x.astype(np.float64).reshape(b, h * w, c)  # row-major pixels, h * W + w
    (wq, bq), (wk, bk), (wv, bv) = _w(m.query_conv), _w(m.key_conv), _w(m.value_conv)
    q, k, v = x @ wq + bq, x @ wk + bk, x @ wv + bv
    energy = q @ k.transpose(0, 2, 1)  # no 1/sqrt(d)
    att = np.exp(energy - energy.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    out = att @ v
    return (float(m.gamma[0]) * out + x).reshape(b, h, w, c)


def test_self_attention_matches_numpy_and_chunks_are_exact():
    x = np.random.default_rng(0).normal(size=(2, 9, 7, 16)).astype(np.float32)
    m = SelfAttention2d(16, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(m(jnp.asarray(x))), x)  # gamma = 0: identity
    m.gamma[...] = jnp.asarray([0.7], jnp.float32)
    y = np.asarray(m(jnp.asarray(x)))
    assert np.abs(y - x).max() > 0.1
    np.testing.assert_allclose(y, _np_sagan(x, m), rtol=0, atol=LAYER)
    m.chunk_size = 10  # 63 pixels: six full blocks of query rows and a ragged one
    np.testing.assert_allclose(np.asarray(m(jnp.asarray(x))), y, rtol=0, atol=LAYER)


def test_self_attention_chunked_gradient_equals_naive():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 5, 3, 16)), jnp.float32)
    grads = []
    for size in (None, 4):
        m = SelfAttention2d(16, chunk_size=size, rngs=nnx.Rngs(0))
        m.gamma[...] = jnp.asarray([0.5], jnp.float32)
        graphdef, state = nnx.split(m)
        grads.append(jax.jit(jax.grad(lambda s, a: jnp.sum(nnx.merge(graphdef, s)(a) ** 2), argnums=(0, 1)))(state, x))
    for a, b in zip(jax.tree_util.tree_leaves(grads[0]), jax.tree_util.tree_leaves(grads[1])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_channel_attention_sums_two_sigmoid_branches():
    x = np.random.default_rng(2).normal(size=(2, 17, 15, 32)).astype(np.float32)
    m = ChannelAttention(32, reduction=8, rngs=nnx.Rngs(0))
    l1, l2 = m.fc[0], m.fc[2]
    w1, b1 = np.asarray(l1.weight[...], np.float64), np.asarray(l1.bias[...], np.float64)
    w2, b2 = np.asarray(l2.weight[...], np.float64), np.asarray(l2.bias[...], np.float64)

    def fc(v):  # Linear, ReLU, Linear, Sigmoid, as the seed's nn.Sequential
        return 1 / (1 + np.exp(-(np.maximum(v @ w1 + b1, 0) @ w2 + b2)))

    x64 = x.astype(np.float64)
    y = fc(x64.mean(axis=(1, 2))) + fc(x64.max(axis=(1, 2)))
    np.testing.assert_allclose(np.asarray(m(jnp.asarray(x))), x64 * y[:, None, None, :], rtol=0, atol=LAYER)
    assert w1.shape == (32, 4) and w2.shape == (4, 32)


def test_errors():
    with pytest.raises(ValueError, match="in_dim: expected at least 8 channels"):
        SelfAttention2d(4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="chunk_size: expected None or a positive int"):
        SelfAttention2d(8, chunk_size=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="channels: expected at least 16 channels"):
        ChannelAttention(8, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="x: expected 16 channels"):
        SelfAttention2d(16, rngs=nnx.Rngs(0))(jnp.zeros((1, 3, 3, 8)))
    with pytest.raises(ValueError, match="rank-4 NHWC"):
        ChannelAttention(32, 8, rngs=nnx.Rngs(0))(jnp.zeros((3, 32)))
