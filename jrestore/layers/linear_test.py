"""Linear against NumPy float64 and PyTorch's default-init bounds."""
import math

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import Linear, LinearKernel
from jrestore.parity.tolerances import INIT_STD, LAYER


def test_matches_numpy_and_keeps_leading_axes():
    lin = Linear(24, 10, rngs=nnx.Rngs(0))
    assert isinstance(lin.weight, LinearKernel) and lin.weight[...].shape == (24, 10)
    x = np.random.default_rng(0).normal(size=(2, 3, 24)).astype(np.float32)
    ref = x.astype(np.float64) @ np.asarray(lin.weight[...], np.float64) + np.asarray(lin.bias[...], np.float64)
    np.testing.assert_allclose(np.asarray(lin(jnp.asarray(x))), ref, rtol=0, atol=LAYER)
    assert Linear(3, 2, bias=False, rngs=nnx.Rngs(0)).bias is None


def test_default_init_is_torch_uniform():
    lin = Linear(400, 300, rngs=nnx.Rngs(1))
    w, b = np.asarray(lin.weight[...]), np.asarray(lin.bias[...])
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < INIT_STD * bound / math.sqrt(3)
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound


def test_errors():
    with pytest.raises(ValueError, match=r"x: expected a last axis of size 5, got shape \(2, 4\)"):
        Linear(5, 3, rngs=nnx.Rngs(0))(jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="in_features: expected a positive int"):
        Linear(0, 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="floating-point"):
        Linear(2, 3, rngs=nnx.Rngs(0))(jnp.zeros((1, 2), jnp.int32))
