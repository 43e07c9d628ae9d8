"""Activations against explicit float64 formulas."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import GELU, LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from jrestore.parity.tolerances import LAYER, OP

X = np.random.default_rng(0).normal(size=(2, 17, 15, 3)).astype(np.float32)
X64 = X.astype(np.float64)


def test_prelu_init_and_per_channel_slopes():
    assert PReLU().weight[...].shape == (1,) and float(PReLU().weight[0]) == 0.25
    p = PReLU(3, init=0.1)
    p.weight[...] = jnp.asarray([0.1, -0.5, 2.0], jnp.float32)
    ref = np.where(X64 > 0, X64, np.array([0.1, -0.5, 2.0]) * X64)  # slope per last-axis channel
    np.testing.assert_allclose(np.asarray(p(jnp.asarray(X))), ref, rtol=0, atol=OP)
    # d sum(y) / d slope_c = the sum of channel c's non-positive inputs
    graphdef, state = nnx.split(p)
    g = jax.grad(lambda s: jnp.sum(nnx.merge(graphdef, s)(jnp.asarray(X))))(state)
    ref = [X64[..., c][X64[..., c] <= 0].sum() for c in range(3)]
    np.testing.assert_allclose(np.asarray(g["weight"][...]), ref, rtol=LAYER)


def test_parameter_free_activations():
    cases = [
        (LeakyReLU(0.2), np.where(X64 > 0, X64, 0.2 * X64)),
        (LeakyReLU(), np.where(X64 > 0, X64, 0.01 * X64)),  # PyTorch's default slope
        (ReLU(inplace=True), np.maximum(X64, 0)),
        (Sigmoid(), 1 / (1 + np.exp(-X64))),
        (Tanh(), np.tanh(X64)),
        (GELU(), X64 * 0.5 * (1 + np.vectorize(math.erf)(X64 / math.sqrt(2)))),
        (GELU("tanh"), 0.5 * X64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (X64 + 0.044715 * X64 ** 3)))),
    ]
    for module, ref in cases:
        y = np.asarray(module(jnp.asarray(X)))
        np.testing.assert_allclose(y, ref, rtol=0, atol=OP, err_msg=type(module).__name__)
    assert np.abs(np.asarray(GELU()(jnp.asarray(X))) - np.asarray(GELU("tanh")(jnp.asarray(X)))).max() > 1e-4


def test_errors():
    with pytest.raises(ValueError, match="x: expected 4 channels on the last axis"):
        PReLU(4)(jnp.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="num_parameters: expected a positive int"):
        PReLU(0)
    with pytest.raises(ValueError, match="approximate: expected one of"):
        GELU("erf")
    with pytest.raises(ValueError, match="floating-point"):
        Tanh()(jnp.zeros((2, 2), jnp.int32))
