"""Soft threshold against NumPy float64."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrestore.ops.shrinkage import soft_threshold
from jrestore.parity.tolerances import OP


def _np_soft(x, t):
    x = np.asarray(x, np.float64)
    return np.where(x > t, x - t, np.where(x < -t, x + t, 0.0))  # piecewise form, independent of sign*relu


def test_scalar_threshold_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 17, 15, 3)).astype(np.float32)
    x[0, 0, 0, :] = [0.0, 0.3, -0.3]  # zero and exactly +-threshold
    out = np.asarray(jax.jit(soft_threshold)(x, 0.3))
    np.testing.assert_allclose(out, _np_soft(x, np.float32(0.3)), rtol=0, atol=OP)
    np.testing.assert_array_equal(out[0, 0, 0], [0.0, 0.0, 0.0])


def test_array_threshold_broadcasts():
    x = np.random.default_rng(1).normal(size=(2, 17, 15, 3)).astype(np.float32)
    t = np.array([0.0, 0.5, 2.0], np.float32).reshape(1, 1, 1, 3)
    out = np.asarray(soft_threshold(jnp.asarray(x), jnp.asarray(t)))
    np.testing.assert_allclose(out, _np_soft(x, t), rtol=0, atol=OP)
    np.testing.assert_array_equal(out[..., 0], x[..., 0])  # threshold 0 is the identity


def test_sign_of_zero_is_zero():
    # a negative threshold makes relu(|x| - t) > 0 at x = 0; sign(0) = 0 must still give 0
    assert float(soft_threshold(jnp.zeros(()), -0.5)) == 0.0
    assert float(soft_threshold(jnp.asarray(0.25), -0.5)) == 0.75


def test_rejects_integers():
    with pytest.raises(ValueError, match="x: expected a floating-point array"):
        soft_threshold(jnp.arange(4), 1)
