"""BatchNorm2d against a float64 NumPy transcription of PyTorch's documented update rules."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import BatchNorm2d, Conv2d, Sequential
from jrestore.parity.tolerances import LAYER, OP


def _np_bn_train(x, w, b, rm, rv, count, momentum, eps):
    """One PyTorch train-mode step: normalise with the biased variance, store the unbiased one."""
    x = x.astype(np.float64)
    n = x.shape[0] * x.shape[1] * x.shape[2]
    mean = x.mean(axis=(0, 1, 2))
    var = ((x - mean) ** 2).mean(axis=(0, 1, 2))
    y = (x - mean) / np.sqrt(var + eps) * w + b
    count = count + 1
    f = 1.0 / count if momentum is None else momentum
    return y, (1 - f) * rm + f * mean, (1 - f) * rv + f * var * n / (n - 1), count


def _set(bn, rng):
    c = bn.num_features
    bn.weight[...] = jnp.asarray(rng.normal(1, 0.3, c), jnp.float32)
    bn.bias[...] = jnp.asarray(rng.normal(0, 0.3, c), jnp.float32)
    bn.running_mean[...] = jnp.asarray(rng.normal(0, 0.2, c), jnp.float32)
    bn.running_var[...] = jnp.asarray(rng.uniform(0.5, 2, c), jnp.float32)
    bn.num_batches_tracked[...] = jnp.asarray(4, jnp.int32)


@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.9, 1e-4), (None, 1e-5)])
def test_three_train_steps_then_eval_match_numpy(momentum, eps):
    rng = np.random.default_rng(0)
    bn = BatchNorm2d(4, eps=eps, momentum=momentum)
    _set(bn, rng)
    w, b = np.asarray(bn.weight[...], np.float64), np.asarray(bn.bias[...], np.float64)
    rm, rv, count = np.asarray(bn.running_mean[...], np.float64), np.asarray(bn.running_var[...], np.float64), 4
    for s in range(3):
        x = rng.normal(s, 1 + s, (2, 9, 7, 4)).astype(np.float32)
        y_ref, rm, rv, count = _np_bn_train(x, w, b, rm, rv, count, momentum, eps)
        np.testing.assert_allclose(np.asarray(bn(jnp.asarray(x))), y_ref, rtol=0, atol=LAYER)
    np.testing.assert_allclose(np.asarray(bn.running_mean[...]), rm, rtol=0, atol=LAYER)
    np.testing.assert_allclose(np.asarray(bn.running_var[...]), rv, rtol=0, atol=LAYER)
    assert int(bn.num_batches_tracked[...]) == count == 7 and bn.num_batches_tracked[...].dtype == jnp.int32
    bn.eval()
    x = rng.normal(size=(2, 9, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(bn(jnp.asarray(x))), (x - rm) / np.sqrt(rv + eps) * w + b, rtol=0, atol=LAYER)
    assert int(bn.num_batches_tracked[...]) == 7  # eval does not count


@pytest.mark.parametrize("shape, mean, std", [((2, 17, 15, 2), 300.0, 0.01), ((16, 64, 64, 3), 1e4, 1.0),
                                              ((8, 33, 33, 4), -50.0, 0.1)])
def test_statistics_survive_a_large_mean(shape, mean, std):
    # E[x^2] - E[x]^2 in float32 loses the variance entirely at mean 300, std 0.01 (docs/conventions.md §5:
    # 7.1 off), and a plain two-pass mean is off by ~1e-4 there, depending on the CPU's reduction order
    # (1.4e-2 in the normalised output on an AVX-512 EPYC). The corrected two-pass statistics are exact to
    # float32: the output is within a few float32 ulps of order 1, whatever the machine.
    x = (mean + std * np.random.default_rng(1).normal(size=shape)).astype(np.float32)
    bn = BatchNorm2d(shape[-1])
    y = np.asarray(bn(jnp.asarray(x)))
    x64 = x.astype(np.float64)
    n = x64[..., 0].size
    ref = (x64 - x64.mean((0, 1, 2))) / np.sqrt(x64.var((0, 1, 2)) + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=0, atol=LAYER)
    running_var = 0.9 + 0.1 * x64.var((0, 1, 2)) * n / (n - 1)
    np.testing.assert_allclose(np.asarray(bn.running_var[...]), running_var, rtol=LAYER, atol=0)
    np.testing.assert_allclose(np.asarray(bn.running_mean[...]), 0.1 * x64.mean((0, 1, 2)), rtol=LAYER, atol=0)


def test_statistics_do_not_depend_on_the_order_of_the_batch():
    # Reordering the batch and the pixels changes the order XLA sums in; the statistics must not move
    # beyond float32 rounding of the result itself.
    rng = np.random.default_rng(5)
    x = (300 + 0.01 * rng.normal(size=(4, 21, 19, 3))).astype(np.float32)
    stats = []
    for xx in (x, x[::-1, ::-1], x[:, :, rng.permutation(19)]):
        bn = BatchNorm2d(3, momentum=1.0)
        bn(jnp.asarray(xx))
        stats.append((np.asarray(bn.running_mean[...]), np.asarray(bn.running_var[...])))
    for mean, var in stats[1:]:
        np.testing.assert_allclose(mean, stats[0][0], rtol=OP, atol=0)
        np.testing.assert_allclose(var, stats[0][1], rtol=LAYER, atol=0)


def test_train_eval_switch_and_jit_with_split_state():
    model = Sequential(Conv2d(6, 6, 3, padding=1, rngs=nnx.Rngs(0)), BatchNorm2d(6))
    assert model[1].use_running_average is False  # PyTorch modules start in train mode
    model.eval()
    assert model[1].use_running_average is True
    model.train()
    graphdef, state = nnx.split(model)

    @jax.jit
    def step(state, x):
        m = nnx.merge(graphdef, state, copy=True)
        return m(x), nnx.state(m)

    x = jnp.asarray(np.random.default_rng(2).normal(2, 3, (2, 17, 15, 6)), jnp.float32)
    y, new_state = step(state, x)
    y_eager = nnx.clone(model)(x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(y_eager), rtol=0, atol=LAYER)
    assert int(new_state[1]["num_batches_tracked"][...]) == 1
    assert not np.allclose(np.asarray(new_state[1]["running_mean"][...]), 0.0)
    np.testing.assert_array_equal(np.asarray(model[1].running_mean[...]), 0.0)  # the original is untouched


def test_no_running_stats_uses_batch_statistics_in_eval():
    x = np.random.default_rng(3).normal(1, 2, (2, 5, 3, 3)).astype(np.float32)
    bn = BatchNorm2d(3, affine=False, track_running_stats=False)
    bn.eval()
    ref = (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + 1e-5)
    np.testing.assert_allclose(np.asarray(bn(jnp.asarray(x))), ref, rtol=0, atol=LAYER)
    assert bn.running_mean is None and bn.weight is None


def test_gradient_stops_at_running_stats():
    bn = BatchNorm2d(2)
    graphdef, params, rest = nnx.split(bn, nnx.Param, ...)
    x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 3, 3, 2)), jnp.float32)

    def running_mean_sum(xx):
        m = nnx.merge(graphdef, params, rest, copy=True)
        m(xx)
        return jnp.sum(m.running_mean[...])

    np.testing.assert_array_equal(np.asarray(jax.grad(running_mean_sum)(x)), 0.0)


def test_errors():
    with pytest.raises(ValueError, match="x: expected 3 channels"):
        BatchNorm2d(3)(jnp.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2d(3)(jnp.zeros((1, 1, 1, 3)))
    with pytest.raises(ValueError, match=r"momentum: expected None or a value in \[0, 1\]"):
        BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="num_features: expected a positive int"):
        BatchNorm2d(0)
    with pytest.raises(ValueError, match="rank-4 NHWC"):
        BatchNorm2d(3)(jnp.zeros((4, 3)))
