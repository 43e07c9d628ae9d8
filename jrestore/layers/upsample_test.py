"""PixelShuffle modules and the sub-pixel Upsampler: structure, PyTorch keys, shapes, errors."""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.convert import torch_state_dict
from jrestore.layers import Conv2d, PixelShuffle, PixelUnshuffle, Upsampler
from jrestore.ops.pixel_shuffle import pixel_shuffle


@pytest.mark.parametrize("scale,keys,out_ch", [
    (2, ["0.bias", "0.weight"], [16]),
    (3, ["0.bias", "0.weight"], [36]),
    (4, ["0.bias", "0.weight", "2.bias", "2.weight"], [16, 16]),
    (8, ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"], [16, 16, 16]),
])
def test_upsampler_layout_and_torch_keys(scale, keys, out_ch):
    up = Upsampler(scale, 4, rngs=nnx.Rngs(0))
    assert sorted(torch_state_dict(up)) == keys
    assert [m.out_channels for m in up if isinstance(m, Conv2d)] == out_ch
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 3, 4)), jnp.float32)
    y = up(x)
    assert y.shape == (2, 5 * scale, 3 * scale, 4)
    ref = x  # the container is exactly conv -> pixel_shuffle per stage
    for conv, shuffle in zip(list(up)[::2], list(up)[1::2]):
        ref = pixel_shuffle(conv(ref), shuffle.upscale_factor)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(ref))


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
