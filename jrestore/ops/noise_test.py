"""Noise synthesis: statistics within a few standard errors, determinism, exact identities, errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrestore.ops.noise import add_gaussian_noise, add_poisson_noise, add_salt_and_pepper, numpy_legacy_gaussian_noise

from jrestore.parity.tolerances import FLOAT32_LEVELS, STAT_Z as Z
SHAPE = (2, 129, 97, 3)  # 75,078 samples, odd sizes
# one compiled function each (scalars are traced), so a test does not pay for several compilations
gaussian, poisson, salt_and_pepper = (jax.jit(f) for f in (add_gaussian_noise, add_poisson_noise, add_salt_and_pepper))


def _image(seed=0):
    return np.random.default_rng(seed).uniform(0.1, 0.9, SHAPE).astype(np.float32)


def test_gaussian_residual_statistics():
    x, sigma = _image(), 25.0
    r = np.asarray(gaussian(jax.random.key(0), x, sigma), np.float64) - x
    s, n = sigma / 255, r.size
    assert abs(r.mean()) < Z * s / np.sqrt(n)
    assert abs(r.std() / s - 1) < Z / np.sqrt(2 * n)


def test_gaussian_not_clipped_deterministic_and_exact_at_zero():
    x = _image()
    a = gaussian(jax.random.key(1), x, 50.0)
    assert float(a.max()) > 1 and float(a.min()) < 0  # the DnCNN protocol does not clip
    np.testing.assert_array_equal(np.asarray(a), np.asarray(gaussian(jax.random.key(1), x, 50.0)))
    assert not np.array_equal(np.asarray(a), np.asarray(gaussian(jax.random.key(2), x, 50.0)))
    np.testing.assert_array_equal(np.asarray(gaussian(jax.random.key(1), x, 0.0)), x)
    per_image = jnp.asarray([0.0, 15.0]).reshape(2, 1, 1, 1)
    b = np.asarray(add_gaussian_noise(jax.random.key(1), x, per_image))
    np.testing.assert_array_equal(b[0], x[0])
    assert abs((b[1] - x[1]).std() * 255 / 15 - 1) < Z / np.sqrt(b[1].size)


def test_poisson_statistics():
    x, peak = np.full(SHAPE, 0.3, np.float32), 40.0
    x[0, 0] = -1.0  # a negative rate counts as 0
    y = np.asarray(poisson(jax.random.key(0), x, peak), np.float64)
    np.testing.assert_array_equal(y[0, 0], 0)
    y = y[1]
    n, var = y.size, 0.3 / peak
    assert abs(y.mean() - 0.3) < Z * np.sqrt(var / n)
    # Var of the sample variance of Poisson(lam)/peak: (mu4 - var^2) / n with mu4 = (lam + 3 lam^2) / peak^4
    lam = 0.3 * peak
    assert abs(y.var() - var) < Z * np.sqrt((lam + 3 * lam ** 2 - lam ** 2) / peak ** 4 / n)
    np.testing.assert_allclose(y * peak, np.round(y * peak), rtol=0, atol=FLOAT32_LEVELS)  # integer counts / peak


def test_salt_and_pepper_fraction_and_values():
    x, amount, svp = _image(), 0.07, 0.3
    y = np.asarray(salt_and_pepper(jax.random.key(0), x, amount, svp))
    hit = y != x
    n = y.size
    assert abs(hit.mean() - amount) < Z * np.sqrt(amount * (1 - amount) / n)
    assert set(np.unique(y[hit]).tolist()) == {0.0, 1.0}  # exactly 0 or 1 where hit
    salt = (y[hit] == 1).mean()
    assert abs(salt - svp) < Z * np.sqrt(svp * (1 - svp) / hit.sum())
    np.testing.assert_array_equal(np.asarray(salt_and_pepper(jax.random.key(3), x, 0.0)), x)
    np.testing.assert_array_equal(np.asarray(salt_and_pepper(jax.random.key(0), x, amount, svp)), y)


def test_numpy_legacy_gaussian_noise_reproduces_seeded_numpy():
    state = np.random.get_state()
    np.random.seed(0)
    ref = np.random.normal(0, 25 / 255.0, (17, 15, 3))
    np.random.set_state(state)
    out = numpy_legacy_gaussian_noise((17, 15, 3), 25.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref.astype(np.float32))
    np.testing.assert_array_equal(numpy_legacy_gaussian_noise((17, 15, 3), 25.0, dtype=np.float64), ref)
    np.random.seed(7)
    assert not np.array_equal(numpy_legacy_gaussian_noise((4,), 25.0, seed=7), numpy_legacy_gaussian_noise((4,), 25.0))
    np.testing.assert_array_equal(np.random.get_state()[1], np.random.RandomState(7).get_state()[1])  # untouched


def test_errors():
    x, key = jnp.zeros((1, 3, 3, 1)), jax.random.key(0)
    with pytest.raises(ValueError, match="x: expected a floating-point array"):
        add_gaussian_noise(key, jnp.zeros((3, 3), jnp.uint8), 15.0)
    with pytest.raises(ValueError, match="sigma: expected a non-negative value"):
        add_gaussian_noise(key, x, -1.0)
    with pytest.raises(ValueError, match="peak: expected a positive value"):
        add_poisson_noise(key, x, 0)
    with pytest.raises(ValueError, match=r"amount: expected a value in \[0, 1\], got 1.5"):
        add_salt_and_pepper(key, x, 1.5)
    with pytest.raises(ValueError, match=r"salt_vs_pepper: expected a value in \[0, 1\]"):
        add_salt_and_pepper(key, x, 0.1, -0.1)
