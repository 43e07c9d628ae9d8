"""pixel_shuffle / pixel_unshuffle against the defining index formula (PyTorch's order), written as loops."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrestore.ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle


def _np_shuffle(x, r):
    # out[n, h*r + i, w*r + j, c] = in[n, h, w, c*r*r + i*r + j]  (docs/conventions.md §3, in NHWC)
    n, h, w, crr = x.shape
    c = crr // (r * r)
    out = np.empty((n, h * r, w * r, c), x.dtype)
    for ch in range(c):
        for i in range(r):
            for j in range(r):
                out[:, i::r, j::r, ch] = x[..., ch * r * r + i * r + j]
    return out


@pytest.mark.parametrize("r,shape", [(2, (2, 9, 7, 12)), (3, (2, 5, 7, 18)), (1, (2, 3, 4, 2))])
def test_shuffle_matches_index_formula_and_unshuffle_inverts(r, shape):
    x = np.random.default_rng(r).normal(size=shape).astype(np.float32)
    y = np.asarray(jax.jit(pixel_shuffle, static_argnums=1)(x, r))
    np.testing.assert_array_equal(y, _np_shuffle(x, r))
    np.testing.assert_array_equal(np.asarray(pixel_unshuffle(jnp.asarray(y), r)), x)


def test_channel_order_is_not_tensorflow_depth_to_space():
    # 4 input channels, r=2 -> 1 output channel: the 2x2 block reads channels 0,1 / 2,3 row by row
    x = jnp.arange(4, dtype=jnp.float32).reshape(1, 1, 1, 4)
    np.testing.assert_array_equal(np.asarray(pixel_shuffle(x, 2))[0, :, :, 0], [[0, 1], [2, 3]])
    # 8 channels -> 2 output channels: channel 0 takes inputs 0..3 (c outermost), not 0,2,4,6 (TF order)
    x = jnp.arange(8, dtype=jnp.float32).reshape(1, 1, 1, 8)
    np.testing.assert_array_equal(np.asarray(pixel_shuffle(x, 2))[0, :, :, 0], [[0, 1], [2, 3]])


def test_errors():
    with pytest.raises(ValueError, match=r"x channels .*expected a multiple of 4, got 6"):
        pixel_shuffle(jnp.zeros((1, 3, 3, 6)), 2)
    with pytest.raises(ValueError, match="x: expected height and width divisible by 3, got 9x7"):
        pixel_unshuffle(jnp.zeros((1, 9, 7, 2)), 3)
    with pytest.raises(ValueError, match="r: expected a positive int, got 0"):
        pixel_shuffle(jnp.zeros((1, 3, 3, 4)), 0)
    with pytest.raises(ValueError, match="r: expected a positive int, got 2.0"):
        pixel_unshuffle(jnp.zeros((1, 4, 4, 1)), 2.0)
    with pytest.raises(ValueError, match=r"rank-4 NHWC"):
        pixel_shuffle(jnp.zeros((3, 3, 4)), 2)
    with pytest.raises(ValueError, match="floating-point"):
        pixel_shuffle(jnp.zeros((1, 3, 3, 4), jnp.int32), 2)
