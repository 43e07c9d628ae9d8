"""PixelShuffle modules and the sub-pixel Upsampler: structure, PyTorch keys, shapes, errors."""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import PixelShuffle, PixelUnshuffle, Upsampler


def test_shuffle_modules_invert_each_other():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6, 9, 2)), jnp.float32)
    y = PixelUnshuffle(3)(x)
    assert y.shape == (2, 2, 3, 18)
    np.testing.assert_array_equal(np.asarray(PixelShuffle(3)(y)), np.asarray(x))


@pytest.mark.parametrize("scale", [1, 5, 6, 0, 2.0, True])
def test_upsampler_rejects_other_scales(scale):
    with pytest.raises(ValueError, match="scale: expected 3 or a power of 2"):
        Upsampler(scale, 4, rngs=nnx.Rngs(0))


def test_shuffle_module_errors():
    with pytest.raises(ValueError, match="upscale_factor: expected a positive int"):
        PixelShuffle(0)
    with pytest.raises(ValueError, match="downscale_factor: expected a positive int"):
        PixelUnshuffle(1.5)
