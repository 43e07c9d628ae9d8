"""ChannelAttention and SelfAttention2d against float64 NumPy transcriptions of the WASA sketch's PyTorch
(docs/conventions.md §6, §15)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import ChannelAttention, SelfAttention2d
from jrestore.layers.attention import AUTO_BLOCK_ELEMENTS, resolve_chunk_size
from jrestore.parity.tolerances import GRADIENT, LAYER


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


def _sagan(chunk_size, gamma=0.7, in_dim=16):
    """The same weights (Rngs(0)) for every chunk_size; gamma off 0 so the attention branch shows."""
    m = SelfAttention2d(in_dim, chunk_size=chunk_size, rngs=nnx.Rngs(0))
    m.gamma[...] = jnp.asarray([gamma], jnp.float32)
    return m


def _rel_close(a, b, tol, name):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    err, limit = np.abs(a - b).max(), tol * max(1.0, np.abs(b).max())
    assert err <= limit, f"{name}: max_abs {err:.2e} > {limit:.1e}"


# odd, non-square maps of 63 and 65 pixels. Chunk sizes: 1 (a block per query row), 7 and 13 divide,
# 10, 16, 62 and 64 leave a ragged last block, 70 > 65 takes the naive path
@pytest.mark.parametrize("shape, sizes", [((2, 9, 7, 16), (1, 7, 10, 62)), ((2, 5, 13, 16), (13, 16, 64, 70))])
def test_chunked_equals_naive_for_dividing_ragged_and_oversized_chunks(shape, sizes):
    x = jnp.asarray(np.random.default_rng(3).normal(size=shape), jnp.float32)
    naive = np.asarray(jax.jit(_sagan(None))(x))
    assert np.abs(naive - np.asarray(x)).max() > 0.1
    for size in sizes:
        y = np.asarray(jax.jit(_sagan(size))(x))
        np.testing.assert_allclose(y, naive, rtol=0, atol=LAYER, err_msg=f"chunk_size={size}")


def test_auto_is_naive_up_to_the_threshold_and_chunked_above():
    assert AUTO_BLOCK_ELEMENTS == 4096 ** 2
    assert resolve_chunk_size("auto", 63) is None and resolve_chunk_size("auto", 4096) is None
    assert [resolve_chunk_size("auto", n) for n in (4225, 128 ** 2, 256 ** 2, 512 ** 2)] == [3970, 1024, 256, 64]
    assert resolve_chunk_size("auto", 2 ** 26) == 1
    assert resolve_chunk_size(None, 10 ** 6) is None and resolve_chunk_size(64, 64) is None
    assert resolve_chunk_size(64, 65) == 64
    assert SelfAttention2d(8, rngs=nnx.Rngs(0)).chunk_size == "auto"  # the default (WASA passes it through)
    # 65x65 = 4225 pixels > 4096: "auto" takes a block of 3970 rows and a ragged one of 255; 1 image and
    # 8 channels keep the naive reference at 71 MB
    x = jnp.asarray(np.random.default_rng(4).normal(size=(1, 65, 65, 8)), jnp.float32)
    naive = np.asarray(jax.jit(_sagan(None, in_dim=8))(x))
    auto = np.asarray(jax.jit(_sagan("auto", in_dim=8))(x))
    assert np.abs(naive - np.asarray(x)).max() > 0.1
    np.testing.assert_allclose(auto, naive, rtol=0, atol=LAYER)


def test_self_attention_chunked_gradient_equals_naive():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 5, 3, 16)), jnp.float32)

    def grads(chunk):
        graphdef, state = nnx.split(_sagan(chunk, gamma=0.5))
        return jax.jit(jax.grad(lambda s, a: jnp.sum(nnx.merge(graphdef, s)(a) ** 2), argnums=(0, 1)))(state, x)

    g_naive, gx_naive = grads(None)
    flat_naive = dict(jax.tree_util.tree_leaves_with_path(g_naive))
    for size in (4, 5):  # 15 pixels: 5 divides, 4 leaves a ragged last block of 3
        g_chunk, gx_chunk = grads(size)
        _rel_close(gx_chunk, gx_naive, GRADIENT, f"chunk {size}: x")
        for path, g in jax.tree_util.tree_leaves_with_path(g_chunk):
            assert np.abs(np.asarray(g)).max() > 0, path  # every parameter, gamma included, gets a gradient
            _rel_close(g, flat_naive[path], GRADIENT, f"chunk {size}: {jax.tree_util.keystr(path)}")


def test_channel_attention_sums_two_sigmoid_branches():
    x = np.random.default_rng(2).normal(size=(2, 17, 15, 32)).astype(np.float32)
    m = ChannelAttention(32, reduction=8, rngs=nnx.Rngs(0))
    l1, l2 = m.fc[0], m.fc[2]
    w1, b1 = np.asarray(l1.weight[...], np.float64), np.asarray(l1.bias[...], np.float64)
    w2, b2 = np.asarray(l2.weight[...], np.float64), np.asarray(l2.bias[...], np.float64)

    def fc(v):  # Linear, ReLU, Linear, Sigmoid, as the sketch's nn.Sequential
        return 1 / (1 + np.exp(-(np.maximum(v @ w1 + b1, 0) @ w2 + b2)))

    x64 = x.astype(np.float64)
    y = fc(x64.mean(axis=(1, 2))) + fc(x64.max(axis=(1, 2)))
    np.testing.assert_allclose(np.asarray(m(jnp.asarray(x))), x64 * y[:, None, None, :], rtol=0, atol=LAYER)
    assert w1.shape == (32, 4) and w2.shape == (4, 32)


def test_errors():
    with pytest.raises(ValueError, match="in_dim: expected at least 8 channels"):
        SelfAttention2d(4, rngs=nnx.Rngs(0))
    for bad in (0, -3, True, 2.0, "full"):
        with pytest.raises(ValueError, match="chunk_size: expected None, 'auto' or a positive int"):
            SelfAttention2d(8, chunk_size=bad, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="channels: expected at least 16 channels"):
        ChannelAttention(8, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="x: expected 16 channels"):
        SelfAttention2d(16, rngs=nnx.Rngs(0))(jnp.zeros((1, 3, 3, 8)))
    with pytest.raises(ValueError, match="rank-4 NHWC"):
        ChannelAttention(32, 8, rngs=nnx.Rngs(0))(jnp.zeros((3, 32)))
