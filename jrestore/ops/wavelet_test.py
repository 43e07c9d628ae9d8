"""Haar DWT/IWT against an independent float64 NumPy formula; round trip; gradients; errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrestore.ops.wavelet import dwt, iwt
from jrestore.parity.tolerances import OP

# rows: LL, HL, LH, HH; columns: the pixels a = (2i, 2j), b = (2i+1, 2j), c = (2i, 2j+1), d = (2i+1, 2j+1)
_HAAR = 0.5 * np.array([[1, 1, 1, 1], [-1, -1, 1, 1], [-1, 1, -1, 1], [1, -1, -1, 1]], dtype=np.float64)


def _np_dwt(x):
    """[B, H, W, C] -> [B, H/2, W/2, 4C] by the matrix above, sub-band-major channels."""
    quad = np.stack([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)
    bands = np.einsum("sp,bhwcp->bhwsc", _HAAR, quad)  # s: sub-band, p: pixel of the 2x2 quad
    b, h, w, s, c = bands.shape
    return bands.reshape(b, h, w, s * c)


def _np_iwt(y):
    b, h, w, c4 = y.shape
    bands = y.reshape(b, h, w, 4, c4 // 4)
    quad = np.einsum("sp,bhwsc->bhwcp", _HAAR, bands)  # _HAAR is orthogonal: its inverse is its transpose
    x = np.zeros((b, 2 * h, 2 * w, c4 // 4))
    x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2] = np.moveaxis(quad, -1, 0)
    return x


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(-0.2, 1.2, (2, 18, 14, 3)).astype(np.float32)  # halves are 9x7


def test_dwt_matches_numpy_float64(x):
    out = jax.jit(dwt)(x)
    assert out.shape == (2, 9, 7, 12)
    np.testing.assert_allclose(np.asarray(out, np.float64), _np_dwt(x.astype(np.float64)), rtol=0, atol=OP)


def test_dwt_channel_order_is_subband_major(x):
    out = np.asarray(dwt(x))
    ll_c1 = (x[:, 0::2, 0::2, 1] + x[:, 1::2, 0::2, 1] + x[:, 0::2, 1::2, 1] + x[:, 1::2, 1::2, 1]) / 2
    np.testing.assert_allclose(out[..., 1], ll_c1, rtol=0, atol=OP)  # LL of channel 1, not HL of channel 0
    hh_c0 = (x[:, 0::2, 0::2, 0] - x[:, 1::2, 0::2, 0] - x[:, 0::2, 1::2, 0] + x[:, 1::2, 1::2, 0]) / 2
    np.testing.assert_allclose(out[..., 9], hh_c0, rtol=0, atol=OP)


def test_iwt_matches_numpy_float64():
    y = np.random.default_rng(1).normal(size=(2, 9, 7, 8)).astype(np.float32)
    out = jax.jit(iwt)(y)
    assert out.shape == (2, 18, 14, 2)
    np.testing.assert_allclose(np.asarray(out, np.float64), _np_iwt(y.astype(np.float64)), rtol=0, atol=OP)


def test_round_trip(x):
    back = np.asarray(iwt(dwt(x)))
    assert np.abs(back - x).max() <= OP
    y = np.random.default_rng(2).normal(size=(2, 9, 7, 8)).astype(np.float32)
    assert np.abs(np.asarray(dwt(iwt(y))) - y).max() <= OP


def test_gradients_flow(x):
    # The transform is orthonormal, so d/dx sum(dwt(x)^2) = 2x and d/dy sum(iwt(y) * x) = dwt(x).
    g = jax.grad(lambda v: jnp.sum(dwt(v) ** 2))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(g), 2 * x, rtol=0, atol=OP)
    y = jnp.zeros((2, 9, 7, 12))
    g = jax.grad(lambda v: jnp.sum(iwt(v) * x))(y)
    np.testing.assert_allclose(np.asarray(g), _np_dwt(x.astype(np.float64)), rtol=0, atol=OP)


def test_errors():
    with pytest.raises(ValueError, match="x: expected height and width divisible by 2, got 17x14"):
        dwt(jnp.zeros((1, 17, 14, 1)))
    with pytest.raises(ValueError, match="x: expected height and width divisible by 2, got 16x15"):
        dwt(jnp.zeros((1, 16, 15, 1)))
    with pytest.raises(ValueError, match="rank-4"):
        dwt(jnp.zeros((16, 16, 1)))
    with pytest.raises(ValueError, match="floating-point"):
        dwt(jnp.zeros((1, 4, 4, 1), jnp.int32))
    with pytest.raises(ValueError, match="x channels: expected a multiple of 4, got 6"):
        iwt(jnp.zeros((1, 3, 3, 6)))
