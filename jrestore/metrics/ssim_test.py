"""jnp SSIM against the float64 NumPy reference (both variants, float64 and float32), closed forms, errors."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrestore.metrics import ssim, ssim_reference
from jrestore.metrics.psnr_test import pairs
from jrestore.metrics.ssim import K1, K2, ssim_window
from jrestore.parity.tolerances import FLOAT64_FEW_ROUNDINGS, METRIC, METRIC_FLOAT32, SSIM_FLOAT32

CASES = [dict(variant="skimage"), dict(y_channel="matlab", y_round=True, crop_border=2),
         dict(protocol="selfexsr", scale=3), dict(protocol="ista_net"), dict(protocol="kair_dncnn"),
         dict(protocol="yjn870")]  # the knob paths are shared with psnr, whose tests cover every one


def _jit(**kw):  # one compilation per case: eager mode would compile every slice of the filters separately
    return jax.jit(functools.partial(ssim, **kw))


@pytest.mark.parametrize("kw", CASES, ids=str)
def test_float64_matches_reference(kw):
    grid, off, ref = pairs(11, (2, 23, 19, 3))
    with jax.enable_x64(True):
        f = _jit(**kw)
        for a in (grid, off):
            got = np.asarray(f(jnp.asarray(a), jnp.asarray(ref)))
            assert got.dtype == np.float64 and got.shape == (2,)
            np.testing.assert_allclose(got, ssim_reference(a, ref, **kw), rtol=0, atol=METRIC)


@pytest.mark.parametrize("kw", CASES, ids=str)
def test_float32_close_to_reference(kw):
    grid, off, ref = pairs(12, (2, 23, 19, 3))
    f = _jit(**kw)
    for a in (grid, off):
        got = np.asarray(f(a.astype(np.float32), ref.astype(np.float32)))
        np.testing.assert_allclose(got, ssim_reference(a, ref, **kw), rtol=0, atol=METRIC_FLOAT32)


def test_grey_single_image_and_data_range():
    grid, _, ref = pairs(13, (1, 21, 17, 1))
    with jax.enable_x64(True):
        got = float(_jit(data_range=255.0, variant="skimage")(jnp.asarray(grid[0] * 255), jnp.asarray(ref[0] * 255)))
    assert abs(got - ssim_reference(grid[0], ref[0], variant="skimage")) <= METRIC


@pytest.mark.parametrize("variant", ["gaussian", "skimage"])
def test_closed_forms(variant):
    f = _jit(variant=variant)
    x = pairs(14, (2, 13, 12, 3))[2].astype(np.float32)
    np.testing.assert_allclose(np.asarray(f(x, x)), 1.0, rtol=0, atol=METRIC_FLOAT32)
    # flat images: zero variances, SSIM = (2 m n + C1) / (m^2 + n^2 + C1)
    m, n = 0.2, 0.7
    got = f(np.full(x.shape, m, np.float32), np.full(x.shape, n, np.float32))
    np.testing.assert_allclose(np.asarray(got), (2 * m * n + K1 ** 2) / (m * m + n * n + K1 ** 2), rtol=0,
                               atol=METRIC_FLOAT32)


def test_windows():
    w, norm = ssim_window("gaussian")
    t = np.arange(-5, 6)
    np.testing.assert_allclose(w, np.exp(-t ** 2 / 4.5) / np.exp(-t ** 2 / 4.5).sum(), rtol=0,
                               atol=FLOAT64_FEW_ROUNDINGS)
    assert norm == 1.0 and (K1, K2) == (0.01, 0.03)
    w, norm = ssim_window("skimage")
    assert len(w) == 7 and abs(w.sum() - 1) < FLOAT64_FEW_ROUNDINGS and norm == 49 / 48


def test_errors():
    x = jnp.zeros((2, 12, 10, 3))
    with pytest.raises(ValueError, match="a: crop_border=0 .* 12x10 image leaves 12x10, at least 11x11 needed"):
        ssim(x, x)
    with pytest.raises(ValueError, match="crop_border: crop_border=2 .* leaves 8x6, at least 7x7 needed"):
        ssim(x, x, crop_border=2, variant="skimage")
    with pytest.raises(ValueError, match="variant: expected one of"):
        ssim(x, x, variant="uniform")
    with pytest.raises(ValueError, match="b: expected the shape of a"):
        ssim(x, x[..., :1])
    with pytest.raises(ValueError, match="scale: crop_border='scale'"):
        ssim(jnp.zeros((20, 20, 3)), jnp.zeros((20, 20, 3)), protocol="selfexsr")


def test_bright_flat_images_keep_float32_precision():
    # E[x^2] - mu^2 at mu = 0.9 cancels three digits: unshifted moments put this pair 2.4e-6 off the float64
    # reference (and how far depends on FMA contraction, i.e. the CPU); shifted ones are within 1e-7.
    rng = np.random.default_rng(0)
    b = (0.9 + 0.002 * rng.normal(size=(64, 64, 1))).astype(np.float32)
    a = (b + 0.001 * rng.normal(size=b.shape)).astype(np.float32)
    ref = float(ssim_reference(a.astype(np.float64), b.astype(np.float64)))
    assert abs(float(_jit()(jnp.asarray(a), jnp.asarray(b))) - ref) < SSIM_FLOAT32
