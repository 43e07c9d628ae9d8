"""jrestore.ops.color against torch_ref.ops.color: float32 to tolerances.OP, the uint8 OpenCV Y exactly."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jrestore.ops import color as jc
from jrestore.parity.harness import assert_close, torch_input
from jrestore.parity.tolerances import FLOAT32_LEVELS, METRIC, OP
from torch_ref.ops import color as tc

NAMES = ["rgb_to_ycbcr_matlab", "ycbcr_to_rgb_matlab", "rgb_to_y_matlab", "rgb_to_ycrcb_opencv",
         "ycrcb_to_rgb_opencv", "rgb_to_y_opencv", "rgb_to_y_opencv_uint8", "rgb_to_y_yjn870"]


def _x(seed=0):
    return np.random.default_rng(seed).uniform(-0.1, 1.1, (2, 17, 15, 3)).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_float32_parity(name):
    x = _x()
    if name == "rgb_to_y_opencv_uint8":
        x = np.round(x * 255).astype(np.float32) / 255  # on and off the clip range
    assert_close(getattr(jc, name)(x), getattr(tc, name)(torch_input(x)), OP, name)


@pytest.mark.parametrize("name", NAMES)
def test_float64_parity(name):
    x = _x(1).astype(np.float64)
    with jax.enable_x64(True):
        j = getattr(jc, name)(jnp.asarray(x))
    t = getattr(tc, name)(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    assert t.dtype == torch.float64 and j.dtype == jnp.float64
    assert_close(j, t, METRIC, name)


def test_opencv_uint8_same_levels():
    x = np.random.default_rng(2).integers(0, 256, (2, 40, 33, 3)).astype(np.float32) / 255
    j = np.asarray(jc.rgb_to_y_opencv_uint8(x)) * 255
    t = tc.rgb_to_y_opencv_uint8(torch_input(x)).numpy().transpose(0, 2, 3, 1) * 255
    np.testing.assert_array_equal(np.round(j), np.round(t))  # the same uint8 level everywhere
    # level / 255 differs by an ulp only (XLA multiplies by 1/255)
    assert np.abs(j - np.round(j)).max() < FLOAT32_LEVELS


@pytest.mark.parametrize("name", NAMES)
def test_torch_errors(name):
    fn = getattr(tc, name)
    with pytest.raises(ValueError, match=r"x: expected 3 channels \(NCHW\), got 4"):
        fn(torch.zeros(1, 4, 5, 5))
    with pytest.raises(ValueError, match="x: expected a rank-4 NCHW"):
        fn(torch.zeros(3, 5, 5))
    with pytest.raises(ValueError, match="x: expected a floating-point array"):
        fn(torch.zeros(1, 3, 5, 5, dtype=torch.uint8))
