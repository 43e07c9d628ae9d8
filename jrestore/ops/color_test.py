"""Colour conversions against float64 NumPy formulas written out here, skimage, and their inverses."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.color import rgb2ycbcr

from jrestore.ops import color
from jrestore.parity.tolerances import FLOAT32_LEVELS, METRIC, OP

SHAPE = (2, 17, 15, 3)


def _rgb(seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0, 1, SHAPE).astype(dtype)


def _np_matlab(x):  # rgb2ycbcr.m on double input, 0..255 output, / 255
    r, g, b = (np.asarray(x, np.float64)[..., i] for i in range(3))
    return np.stack([16 + 65.481 * r + 128.553 * g + 24.966 * b,
                     128 - 37.797 * r - 74.203 * g + 112.0 * b,
                     128 + 112.0 * r - 93.786 * g - 18.214 * b], -1) / 255


def _np_opencv(x):
    r, g, b = (np.asarray(x, np.float64)[..., i] for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return np.stack([y, (r - y) * 0.713 + 0.5, (b - y) * 0.564 + 0.5], -1)


def test_matlab_matches_formula_and_skimage():
    x = _rgb()
    out = np.asarray(color.rgb_to_ycbcr_matlab(x))
    np.testing.assert_allclose(out, _np_matlab(x), rtol=0, atol=OP)
    np.testing.assert_allclose(out, rgb2ycbcr(x.astype(np.float64)) / 255, rtol=0, atol=OP)  # skimage: 0..255
    np.testing.assert_allclose(np.asarray(color.rgb_to_y_matlab(x)), out[..., :1], rtol=0, atol=0)
    with jax.enable_x64(True):
        x64 = _rgb(1, np.float64)
        np.testing.assert_allclose(np.asarray(color.rgb_to_ycbcr_matlab(jnp.asarray(x64))),
                                   rgb2ycbcr(x64) / 255, rtol=0, atol=METRIC)


def test_matlab_known_values():
    x = np.array([[[[0, 0, 0], [1, 1, 1], [1, 0, 0]]]], np.float32)
    out = np.asarray(color.rgb_to_ycbcr_matlab(x)) * 255
    np.testing.assert_allclose(out[0, 0, 0], [16, 128, 128], atol=FLOAT32_LEVELS)
    np.testing.assert_allclose(out[0, 0, 1], [235, 128, 128], atol=FLOAT32_LEVELS)  # studio range
    np.testing.assert_allclose(out[0, 0, 2], [16 + 65.481, 128 - 37.797, 240], atol=FLOAT32_LEVELS)


def test_opencv_matches_formula_order_y_cr_cb():
    x = _rgb(2)
    out = np.asarray(color.rgb_to_ycrcb_opencv(x))
    np.testing.assert_allclose(out, _np_opencv(x), rtol=0, atol=OP)
    red = np.asarray(color.rgb_to_ycrcb_opencv(np.array([[[[1, 0, 0]]]], np.float32)))[0, 0, 0]
    np.testing.assert_allclose(red, [0.299, 0.5 + 0.701 * 0.713, 0.5 - 0.299 * 0.564], atol=OP)  # Cr second
    np.testing.assert_allclose(np.asarray(color.rgb_to_y_opencv(x)), out[..., :1], rtol=0, atol=0)


def test_yjn870_formula():
    x = _rgb(3)
    rgb255 = x.astype(np.float64) * 255
    want = (16 + (64.738 * rgb255[..., 0] + 129.057 * rgb255[..., 1] + 25.064 * rgb255[..., 2]) / 256) / 255
    np.testing.assert_allclose(np.asarray(color.rgb_to_y_yjn870(x))[..., 0], want, rtol=0, atol=OP)


@pytest.mark.parametrize("fwd,inv", [(color.rgb_to_ycbcr_matlab, color.ycbcr_to_rgb_matlab),
                                     (color.rgb_to_ycrcb_opencv, color.ycrcb_to_rgb_opencv)])
def test_round_trips(fwd, inv):
    x = _rgb(4)
    np.testing.assert_allclose(np.asarray(inv(fwd(x))), x, rtol=0, atol=OP)
    ycc = np.asarray(fwd(_rgb(5)))
    np.testing.assert_allclose(np.asarray(fwd(inv(ycc))), ycc, rtol=0, atol=OP)


def test_opencv_uint8_is_cv2_fixed_point():
    rng = np.random.default_rng(6)
    q = rng.integers(0, 256, (1, 200, 300, 3))
    q[0, 0, :256] = np.arange(256)[:, None]  # grey ramp: Y must equal the grey level
    want = (q[..., 0] * 4899 + q[..., 1] * 9617 + q[..., 2] * 1868 + 8192) >> 14
    for dtype in (np.float32, np.float64):
        with jax.enable_x64(dtype == np.float64):
            got = np.asarray(color.rgb_to_y_opencv_uint8(jnp.asarray((q / 255).astype(dtype))))[..., 0] * 255
            np.testing.assert_array_equal(np.round(got), want)
            np.testing.assert_allclose(got, want, rtol=0, atol=10 * FLOAT32_LEVELS)
    np.testing.assert_array_equal(want[0, 0, :256], np.arange(256))
    off = np.round(_np_opencv(q / 255)[..., 0] * 255)  # rounding the float formula is not cv2 (ties, weights)
    assert 0 < np.mean(off != want) < 0.01


@pytest.mark.parametrize("fn", [color.rgb_to_ycbcr_matlab, color.ycbcr_to_rgb_matlab, color.rgb_to_y_matlab,
                                color.rgb_to_ycrcb_opencv, color.ycrcb_to_rgb_opencv, color.rgb_to_y_opencv,
                                color.rgb_to_y_opencv_uint8, color.rgb_to_y_yjn870])
def test_errors(fn):
    with pytest.raises(ValueError, match="x: expected 3 channels"):
        fn(jnp.zeros((1, 4, 4, 4)))
    with pytest.raises(ValueError, match="x: expected a rank-4 NHWC"):
        fn(jnp.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="x: expected a floating-point array"):
        fn(jnp.zeros((1, 4, 4, 3), jnp.int32))
