"""Initialisers against torch.nn.init's documented formulas (std, bounds, orthogonality), and init_weights."""
import math

import jax
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import Conv2d, Sequential, init
from jrestore.parity.tolerances import INIT_STD, OP

SHAPE = (128, 64, 3, 3)  # PyTorch layout: fan_in 576, fan_out 1152


def test_gain_and_fans():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", 0) == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3 and init.calculate_gain("conv2d") == 1.0
    assert init.fan_in_and_fan_out(SHAPE) == (576, 1152)
    assert init.fan_in_and_fan_out((10, 20)) == (20, 10)
    with pytest.raises(ValueError, match="nonlinearity: expected one of"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="shape: fan in and fan out need at least 2 dimensions"):
        init.xavier_normal(jax.random.key(0), (5,))


@pytest.mark.parametrize("fn,kw,std,bound", [
    ("kaiming_normal", {}, math.sqrt(2 / 576), None),
    ("kaiming_normal", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 1152), None),
    ("kaiming_uniform", {"a": math.sqrt(5)}, 1 / math.sqrt(3 * 576), 1 / math.sqrt(576)),  # PyTorch's default
    ("xavier_normal", {"gain": 2.0}, 2 * math.sqrt(2 / 1728), None),
    ("xavier_uniform", {}, math.sqrt(2 / 1728), math.sqrt(6 / 1728)),
    ("normal", {"std": 0.02}, 0.02, None),
])
def test_distribution_formulas(fn, kw, std, bound):
    w = np.asarray(getattr(init, fn)(jax.random.key(0), SHAPE, **kw), np.float64)
    assert w.shape == SHAPE
    assert abs(w.std() / std - 1) < INIT_STD, (w.std(), std)
    if bound is not None:
        assert w.max() <= bound and w.max() > 0.99 * bound


@pytest.mark.parametrize("shape", [(16, 8, 3, 3), (100, 20), (20, 100)])
def test_orthogonal(shape):
    w = np.asarray(init.orthogonal(jax.random.key(1), shape, gain=0.5), np.float64).reshape(shape[0], -1)
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(gram, 0.25 * np.eye(gram.shape[0]), atol=10 * OP)


def test_init_weights_scale_where_and_shape_check():
    model = Sequential(Conv2d(64, 64, 3, rngs=nnx.Rngs(0)), Conv2d(64, 64, 3, rngs=nnx.Rngs(0)))
    before = np.asarray(model[1].weight[...])
    init.init_weights(model, init.kaiming_normal, key=jax.random.key(2), scale=0.1, where=lambda path, m: path == "0")
    w = np.asarray(model[0].weight[...])
    assert abs(w.std() / (0.1 * math.sqrt(2 / 576)) - 1) < INIT_STD
    np.testing.assert_array_equal(np.asarray(model[1].weight[...]), before)
    with pytest.raises(ValueError, match=r"fn: expected an array of shape \(64, 64, 3, 3\)"):
        init.init_weights(model, lambda k, s: init.zeros(k, s[::-1]), key=jax.random.key(0))
