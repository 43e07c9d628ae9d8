"""jnp PSNR against the float64 NumPy reference (float64 and float32), explicit numbers, and errors."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrestore.metrics import psnr, psnr_reference
from jrestore.parity.tolerances import METRIC, METRIC_FLOAT32

CASES = [dict(), dict(crop_border=4), dict(y_channel="matlab"), dict(y_channel="matlab", y_round=True, crop_border=2),
         dict(y_channel="opencv"), dict(y_channel="opencv", y_round=True), dict(y_channel="yjn870"),
         dict(quantize="round"), dict(quantize="clip", y_channel="matlab", y_round=True), dict(mse_zero=100),
         dict(protocol="selfexsr", scale=2), dict(protocol="selfexsr", scale=3), dict(protocol="ista_net"),
         dict(protocol="kair_dncnn"), dict(protocol="yjn870")]


def _jit(**kw):  # one compilation per case is much cheaper than eager mode's one per op and shape
    return jax.jit(functools.partial(psnr, **kw))


def pairs(seed=0, shape=(2, 23, 19, 3)):
    """(uint8-grid restored, off-grid restored overshooting [0, 1], uint8-grid reference), float64 NHWC."""
    rng = np.random.default_rng(seed)
    ref = np.round(np.clip(rng.uniform(0, 255, shape[:1] + (1, 1, shape[3])) + rng.normal(0, 60, shape), 0, 255))
    noisy = ref + rng.normal(0, 6, shape)
    return np.round(np.clip(noisy, 0, 255)) / 255, (noisy + 0.3) / 255 * 1.05 - 0.02, ref / 255


@pytest.mark.parametrize("kw", CASES, ids=str)
@pytest.mark.parametrize("channels", [3, 1])
def test_float64_matches_reference(kw, channels):
    grid, off, ref = pairs(channels, (2, 23, 19, channels))
    with jax.enable_x64(True):
        f = _jit(**kw)
        for a in (grid, off):
            want = psnr_reference(a, ref, **kw)
            got = np.asarray(f(jnp.asarray(a), jnp.asarray(ref)))
            assert got.dtype == np.float64 and got.shape == (2,)
            np.testing.assert_allclose(got, want, rtol=0, atol=METRIC)


@pytest.mark.parametrize("kw", CASES, ids=str)
def test_float32_close_to_reference(kw):
    grid, off, ref = pairs(7)
    f = _jit(**kw)
    for a in (grid, off):
        got = np.asarray(f(a.astype(np.float32), ref.astype(np.float32)))
        np.testing.assert_allclose(got, psnr_reference(a, ref, **kw), rtol=0, atol=METRIC_FLOAT32)


def test_data_range_255_and_single_image():
    grid, _, ref = pairs(3)
    with jax.enable_x64(True):
        f = _jit(data_range=255.0, crop_border=3, y_channel="matlab", y_round=True, quantize="round")
        one = float(f(jnp.asarray(grid[1] * 255), jnp.asarray(ref[1] * 255)))
    assert abs(one - psnr_reference(grid[1], ref[1], crop_border=3, y_channel="matlab", y_round=True,
                                    quantize="round")) <= METRIC


def test_explicit_numbers():
    b = np.random.default_rng(4).integers(0, 255, (2, 9, 7, 3)) / 255
    with jax.enable_x64(True):
        b = jnp.asarray(b)
        got = np.asarray(_jit()(b + 1 / 255, b))  # every error is one grey level
        np.testing.assert_allclose(got, 20 * np.log10(255), rtol=0, atol=METRIC)  # 48.1308 dB
        assert np.isinf(np.asarray(_jit()(b, b))).all()
        np.testing.assert_array_equal(np.asarray(_jit(mse_zero=100)(b, b)), [100, 100])
        np.testing.assert_array_equal(np.asarray(_jit(protocol="ista_net")(b, b)), 100)


@pytest.mark.parametrize("y_channel", [None, "matlab", "opencv", "yjn870"])
def test_identical_inputs_give_mse_zero_under_jit(y_channel):
    # regression: XLA contracted y_a / 255 - y_b / 255 into an FMA, so identical images scored 331 dB, not inf
    _, off, _ = pairs(8)
    with jax.enable_x64(True):
        for y_round in (False, True):
            got = np.asarray(_jit(y_channel=y_channel, y_round=y_round, mse_zero=100)(off, off))
            np.testing.assert_array_equal(got, [100, 100])


def test_jit_with_protocol():
    grid, _, ref = pairs(5)
    f = jax.jit(functools.partial(psnr, protocol="selfexsr", scale=4))
    np.testing.assert_allclose(np.asarray(f(grid.astype(np.float32), ref.astype(np.float32))),
                               psnr_reference(grid, ref, protocol="selfexsr", scale=4), rtol=0, atol=METRIC_FLOAT32)


def test_errors():
    x = jnp.zeros((2, 12, 10, 3))
    with pytest.raises(ValueError, match=r"b: expected the shape of a \(2, 12, 10, 3\), got \(2, 12, 10, 1\)"):
        psnr(x, jnp.zeros((2, 12, 10, 1)))
    with pytest.raises(ValueError, match="a: expected a floating-point array"):
        psnr(jnp.zeros((2, 12, 10, 3), jnp.int32), x)
    with pytest.raises(ValueError, match="b: expected a floating-point array"):
        psnr(x, np.zeros((2, 12, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="crop_border: crop_border=5 .* leaves 2x0"):
        psnr(x, x, crop_border=5)
    names = r"protocol: expected one of \['ista_net', 'kair_dncnn', 'selfexsr', 'yjn870'\]"
    with pytest.raises(ValueError, match=names):
        psnr(x, x, protocol="basicsr")
    with pytest.raises(ValueError, match="a: y_channel='matlab' needs 1 or 3 channels, got 2"):
        psnr(jnp.zeros((12, 10, 2)), jnp.zeros((12, 10, 2)), y_channel="matlab")
    with pytest.raises(ValueError, match="y_channel: expected one of"):
        psnr(x, x, y_channel="bt709")
    with pytest.raises(ValueError, match="mse_zero: expected 'inf' or a number"):
        psnr(x, x, mse_zero="100")
    with pytest.raises(ValueError, match="a: expected a rank-3 or 4 NHWC"):
        psnr(jnp.zeros((12, 10)), jnp.zeros((12, 10)))
