"""Resize ops against independent references: a per-pixel float64 loop of MATLAB's algorithm, PIL's float
bicubic, and jax.image.resize (which equals MATLAB away from the borders)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jrestore.ops.resize import imresize_matlab, quantize_uint8, resize_bicubic_pil, resize_bicubic_torch
from jrestore.parity.tolerances import FLOAT32_LEVELS, OP, PIL_FLOAT32

SCALES = [2, 3, 4, 1 / 2, 1 / 3, 1 / 4]


def _matlab_loop_1d(v: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """imresize.m, one output pixel at a time: cubic a=-0.5, kernel stretched when shrinking, symmetric edges."""
    n = len(v)
    width = 4 / scale if scale < 1 else 4

    def cubic(t):
        t = abs(t)
        return 1.5 * t ** 3 - 2.5 * t ** 2 + 1 if t <= 1 else (-0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2 if t <= 2 else 0.0)

    out = np.zeros(out_len)
    for o in range(1, out_len + 1):
        u = o / scale + 0.5 * (1 - 1 / scale)
        first = math.floor(u - width / 2)
        acc = norm = 0.0
        for i in range(first, first + math.ceil(width) + 2):
            wgt = scale * cubic((u - i) * scale) if scale < 1 else cubic(u - i)
            j = i - 1
            while j < 0 or j >= n:  # mirror: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
                j = -j - 1 if j < 0 else 2 * n - j - 1
            acc += wgt * v[j]
            norm += wgt
        out[o - 1] = acc / norm
    return out


def _matlab_loop(img: np.ndarray, scale: float) -> np.ndarray:
    h, w, _ = img.shape
    oh, ow = round(h * scale) if abs(h * scale - round(h * scale)) < 1e-6 else math.ceil(h * scale), \
        round(w * scale) if abs(w * scale - round(w * scale)) < 1e-6 else math.ceil(w * scale)
    rows = np.stack([np.stack([_matlab_loop_1d(img[:, x, c], oh, scale) for x in range(w)], 1) for c in range(img.shape[2])], -1)
    return np.stack([np.stack([_matlab_loop_1d(rows[y, :, c], ow, scale) for y in range(oh)], 0) for c in range(img.shape[2])], -1)


@pytest.mark.parametrize("scale", SCALES)
def test_imresize_matches_per_pixel_matlab_loop(scale):
    img = np.random.default_rng(0).random((2, 17, 15, 2))
    got = np.asarray(imresize_matlab(jnp.asarray(img, jnp.float32), scale=scale))
    want = np.stack([_matlab_loop(im, scale) for im in img])
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= OP


@pytest.mark.parametrize("scale", [2, 4, 1 / 2, 1 / 4])
def test_imresize_equals_keys_bicubic_in_the_interior(scale):
    # jax.image.resize('bicubic') is Keys a=-0.5 with antialias; it differs from MATLAB only near borders.
    img = jnp.asarray(np.random.default_rng(1).random((48, 40, 1)), jnp.float32)
    ours = np.asarray(imresize_matlab(img, scale=scale))
    keys = np.asarray(jax.image.resize(img, ours.shape, "bicubic", precision=jax.lax.Precision.HIGHEST))
    m = 8 if scale >= 1 else 2
    assert np.abs(ours - keys)[m:-m, m:-m].max() <= OP
    assert np.abs(ours - keys).max() > 1e-3  # the borders do differ: symmetric vs renormalised


@pytest.mark.parametrize("size", [(34, 30), (9, 8), (51, 45)])
def test_resize_bicubic_pil_matches_pil_float(size):
    img = np.random.default_rng(2).random((17, 15)).astype(np.float32)
    ref = np.asarray(Image.fromarray(img, mode="F").resize(size[::-1], Image.BICUBIC))
    got = np.asarray(resize_bicubic_pil(jnp.asarray(img)[..., None], size=size))[..., 0]
    assert np.abs(got - ref).max() <= PIL_FLOAT32  # PIL accumulates in float32 with its own coefficient rounding


def test_constant_image_stays_constant_and_quantize_is_uint8_grid():
    x = jnp.full((1, 13, 11, 3), 0.3)
    for f in (lambda v: imresize_matlab(v, scale=1 / 3), lambda v: imresize_matlab(v, scale=3),
              lambda v: resize_bicubic_torch(v, scale=2), lambda v: resize_bicubic_pil(v, size=(5, 4))):
        assert np.abs(np.asarray(f(x)) - 0.3).max() <= OP
    q = np.asarray(quantize_uint8(jnp.asarray([-0.2, 0.5, 1.3, 0.1234])))
    np.testing.assert_allclose(q * 255, [0, 128, 255, 31], atol=FLOAT32_LEVELS)


def test_output_size_rules():
    x = jnp.zeros((1, 510, 339, 1))
    assert imresize_matlab(x, scale=1 / 3).shape == (1, 170, 113, 1)  # not ceil(170.00000000000003)
    assert imresize_matlab(jnp.zeros((7, 5, 1)), scale=1 / 2).shape == (4, 3, 1)  # ceil, as MATLAB
    assert resize_bicubic_torch(jnp.zeros((1, 7, 5, 1)), scale=2).shape == (1, 14, 10, 1)


@pytest.mark.parametrize("call, match", [
    (lambda: imresize_matlab(jnp.zeros((4, 4)), scale=2), "rank-3 or 4"),
    (lambda: imresize_matlab(jnp.zeros((1, 4, 4, 1), jnp.int32), scale=2), "floating-point"),
    (lambda: imresize_matlab(jnp.zeros((1, 4, 4, 1)), scale=0), "scale: expected a positive"),
    (lambda: imresize_matlab(jnp.zeros((1, 4, 4, 1))), "exactly one"),
    (lambda: imresize_matlab(jnp.zeros((1, 4, 4, 1)), scale=2, size=(8, 8)), "exactly one"),
    (lambda: resize_bicubic_pil(jnp.zeros((1, 4, 4, 1)), size=(0, 3)), "size: expected a pair of positive"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
