"""Shared constants and helpers of both twins against references that import neither (issue 17).

torch_ref imports jrestore's colour constants, MATLAB resize weights, CS block meta and validation, so
jrestore-vs-torch_ref parity cannot see a wrong constant: both sides would carry it. Each check here
compares a twin with a reference that shares nothing with it:
- colour: the coefficients typed out from MATLAB's rgb2ycbcr.m, OpenCV's color.cpp (RGB2YCrCb float and
  14-bit paths) and yjn870 FSRCNN-pytorch utils.py;
- MATLAB bicubic: imresize.m one output pixel at a time in float64 (cubic a = -0.5 written out);
  PIL bicubic: PIL's own float ('F') resize;
- Haar DWT/IWT: the textbook 2x2 Haar matrix (orthonormal, sub-bands [LL, HL, LH, HH]);
- CS blocks: the ISTA-Net test script's pad-and-loop, written out here;
- default initialisation: PyTorch's documented kaiming_uniform(a=sqrt(5)) bound 1 / sqrt(fan_in), with
  ConvTranspose's fan_in from weight.size(1) (out_channels / groups).
The jrestore functions' own *_test.py files hold the same kinds of references; these add the torch_ref
twins and the shared constants.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from PIL import Image

from jrestore.layers import Conv2d, ConvTranspose2d, Linear
from jrestore.ops import color as jcolor
from jrestore.ops import cs_blocks as jcs
from jrestore.ops import resize as jresize
from jrestore.ops import wavelet as jwavelet
from jrestore.ops.resize_test import _matlab_loop  # a float64 loop from imresize.m's own literals
from jrestore.parity.tolerances import FLOAT32_LEVELS, FLOAT32_ROUNDING, FLOAT64, OP, PIL_FLOAT32, STAT_Z
from torch_ref.ops import color as tcolor
from torch_ref.ops import cs_blocks as tcs
from torch_ref.ops import resize as tresize
from torch_ref.ops import wavelet as twavelet


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _rgb(seed, shape=(2, 9, 7, 3)):
    return np.random.default_rng(seed).uniform(0, 1, shape)


# --- colour --------------------------------------------------------------------------------------------------

def _matlab_ycbcr(rgb):
    """rgb2ycbcr.m (double input): T = [65.481 128.553 24.966; -37.797 -74.203 112; 112 -93.786 -18.214],
    offset [16; 128; 128], on 0..255; divided by 255 here."""
    r, g, b = (rgb[..., i] for i in range(3))
    return np.stack([16 + 65.481 * r + 128.553 * g + 24.966 * b,
                     128 - 37.797 * r - 74.203 * g + 112.0 * b,
                     128 + 112.0 * r - 93.786 * g - 18.214 * b], -1) / 255


def _opencv_ycrcb(rgb):
    """OpenCV RGB2YCrCb_f: Y = 0.299 R + 0.587 G + 0.114 B, Cr = (R - Y) 0.713 + 0.5, Cb = (B - Y) 0.564 + 0.5."""
    r, g, b = (rgb[..., i] for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return np.stack([y, (r - y) * 0.713 + 0.5, (b - y) * 0.564 + 0.5], -1)


def _yjn870_y(rgb):
    """yjn870 convert_rgb_to_y: 16. + (64.738 R + 129.057 G + 25.064 B) / 256. on 0..255."""
    r, g, b = (rgb[..., i] * 255 for i in range(3))
    return ((16 + (64.738 * r + 129.057 * g + 25.064 * b) / 256) / 255)[..., None]


def _opencv_y_uint8(rgb):
    """OpenCV 8-bit RGB2YCrCb_i: Y = (R * 4899 + G * 9617 + B * 1868 + (1 << 13)) >> 14 on uint8 levels."""
    q = np.round(np.clip(rgb, 0, 1) * 255).astype(np.int64)
    return (((q[..., 0] * 4899 + q[..., 1] * 9617 + q[..., 2] * 1868 + (1 << 13)) >> 14) / 255)[..., None]


COLOUR_CASES = [
    ("rgb_to_ycbcr_matlab", _matlab_ycbcr),
    ("rgb_to_y_matlab", lambda x: _matlab_ycbcr(x)[..., :1]),
    ("rgb_to_ycrcb_opencv", _opencv_ycrcb),
    ("rgb_to_y_opencv", lambda x: _opencv_ycrcb(x)[..., :1]),
    ("rgb_to_y_opencv_uint8", _opencv_y_uint8),
    ("rgb_to_y_yjn870", _yjn870_y),
]


@pytest.mark.parametrize("name, reference", COLOUR_CASES, ids=[c[0] for c in COLOUR_CASES])
def test_colour_of_both_twins_against_the_original_coefficients(name, reference):
    x = _rgb(0)
    if name == "rgb_to_y_opencv_uint8":
        x = x.copy()
        x[0, 0, :3] = [[1, 1, 1], [0, 0, 0], [0.5, 0.25, 0.75]]
    want = reference(x)
    got_jax = np.asarray(getattr(jcolor, name)(jnp.asarray(x, jnp.float32)), np.float64)
    got_torch = _nhwc(getattr(tcolor, name)(_nchw(x.astype(np.float32)))).astype(np.float64)
    atol = OP  # one float32 op (for rgb_to_y_opencv_uint8, integer levels / 255: only the division rounds)
    np.testing.assert_allclose(got_jax, want, rtol=0, atol=atol)
    np.testing.assert_allclose(got_torch, want, rtol=0, atol=atol)


@pytest.mark.parametrize("fwd, inv, reference", [
    ("rgb_to_ycbcr_matlab", "ycbcr_to_rgb_matlab", _matlab_ycbcr),
    ("rgb_to_ycrcb_opencv", "ycrcb_to_rgb_opencv", _opencv_ycrcb),
])
def test_colour_inverses_of_both_twins_undo_the_original_formula(fwd, inv, reference):
    x = _rgb(1)
    ycc = reference(x)  # the inverse must map the literal formula's output back, not just its own twin's
    for module in (jcolor, tcolor):
        got = (np.asarray(getattr(module, inv)(jnp.asarray(ycc, jnp.float32)), np.float64) if module is jcolor
               else _nhwc(getattr(module, inv)(_nchw(ycc.astype(np.float32)))).astype(np.float64))
        np.testing.assert_allclose(got, x, rtol=0, atol=10 * OP)  # inverse coefficients reach ~4: 10x margin


def test_colour_known_values():
    # white is Y 235 in MATLAB's studio range and 255 in OpenCV's full range; Y of pure red in each convention
    pixels = np.array([[[[1.0, 1, 1], [1, 0, 0]]]])
    for module, to in ((jcolor, lambda v: jnp.asarray(v, jnp.float32)), (tcolor, lambda v: _nchw(v.astype(np.float32)))):
        out = lambda f: (np.asarray(f(to(pixels))) if module is jcolor else _nhwc(f(to(pixels))))[0, 0, :, 0] * 255
        np.testing.assert_allclose(out(module.rgb_to_y_matlab), [235.0, 16 + 65.481], atol=FLOAT32_LEVELS)
        np.testing.assert_allclose(out(module.rgb_to_y_opencv), [255.0, 0.299 * 255], atol=FLOAT32_LEVELS)
        np.testing.assert_allclose(out(module.rgb_to_y_yjn870), [16 + 218.859 * 255 / 256, 16 + 64.738 * 255 / 256],
                                   atol=FLOAT32_LEVELS)


# --- resize --------------------------------------------------------------------------------------------------

def _imresize(img, scale):
    """[H, W] float64 through the per-pixel float64 loop of imresize.m (a = -0.5 typed out, symmetric edges)."""
    return _matlab_loop(img[..., None], scale)[..., 0]


@pytest.mark.parametrize("scale", [3, 1 / 2])
def test_matlab_bicubic_of_both_twins_against_imresize_loop(scale):
    img = np.random.default_rng(2).random((12, 10))
    want = _imresize(img, scale)
    got_jax = np.asarray(jresize.imresize_matlab(jnp.asarray(img[None, ..., None], jnp.float32), scale=scale))[0, ..., 0]
    got_torch = tresize.imresize_matlab(torch.tensor(img[None, None], dtype=torch.float32), scale=scale)[0, 0].numpy()
    np.testing.assert_allclose(got_jax, want, rtol=0, atol=OP)
    np.testing.assert_allclose(got_torch, want, rtol=0, atol=OP)


@pytest.mark.parametrize("size", [(30, 25), (5, 4)])
def test_pil_bicubic_of_both_twins_against_pil(size):
    img = np.random.default_rng(3).random((12, 10)).astype(np.float32)
    want = np.asarray(Image.fromarray(img, mode="F").resize(size[::-1], Image.BICUBIC), np.float64)
    got_jax = np.asarray(jresize.resize_bicubic_pil(jnp.asarray(img)[None, ..., None], size=size))[0, ..., 0]
    got_torch = tresize.resize_bicubic_pil(torch.from_numpy(img)[None, None], size=size)[0, 0].numpy()
    # PIL accumulates in float32 with its own coefficient rounding (measured 2e-7 .. 1e-6 here)
    np.testing.assert_allclose(got_jax, want, rtol=0, atol=PIL_FLOAT32)
    np.testing.assert_allclose(got_torch, want, rtol=0, atol=PIL_FLOAT32)


def test_the_three_bicubics_differ_where_their_kernels_differ():
    # a = -0.5 (MATLAB, PIL) vs -0.75 (PyTorch): x2 upscaling of a step moves the overshoot by ~0.03
    step = np.zeros((1, 8, 8, 1), np.float32)
    step[:, :, 4:] = 1
    matlab = np.asarray(jresize.imresize_matlab(jnp.asarray(step), scale=2))
    torch_bicubic = torch.nn.functional.interpolate(_nchw(step), scale_factor=2, mode="bicubic", align_corners=False)
    assert np.abs(matlab - _nhwc(torch_bicubic)).max() > 0.02
    want = _imresize(step[0, :, :, 0].astype(np.float64), 2)
    np.testing.assert_allclose(matlab[0, :, :, 0], want, rtol=0, atol=OP)


# --- Haar wavelet --------------------------------------------------------------------------------------------

# Textbook orthonormal 2-D Haar on each 2x2 quad [[a, c], [b, d]] (a top-left, b bottom-left, c top-right,
# d bottom-right): LL = (a+b+c+d)/2, HL = (-a-b+c+d)/2 (right minus left), LH = (-a+b-c+d)/2 (bottom minus
# top), HH = (a-b-c+d)/2 (the diagonal); sub-band-major channels [LL(C), HL(C), LH(C), HH(C)].
def _haar_dwt(x):
    a, b, c, d = x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    return np.concatenate([(a + b + c + d) / 2, (-a - b + c + d) / 2, (-a + b - c + d) / 2, (a - b - c + d) / 2], -1)


def _haar_iwt(y):
    ll, hl, lh, hh = np.split(y, 4, axis=-1)
    x = np.zeros((y.shape[0], 2 * y.shape[1], 2 * y.shape[2], y.shape[3] // 4))
    x[:, 0::2, 0::2] = (ll - hl - lh + hh) / 2
    x[:, 1::2, 0::2] = (ll - hl + lh - hh) / 2
    x[:, 0::2, 1::2] = (ll + hl - lh - hh) / 2
    x[:, 1::2, 1::2] = (ll + hl + lh + hh) / 2
    return x


def test_haar_of_both_twins_against_the_textbook_filters():
    x = np.random.default_rng(4).normal(size=(2, 6, 4, 3))
    y = np.random.default_rng(5).normal(size=(2, 3, 2, 8))
    np.testing.assert_allclose(_haar_iwt(_haar_dwt(x)), x, atol=FLOAT64)  # the reference itself is consistent
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    np.testing.assert_allclose(np.asarray(jwavelet.dwt(jnp.asarray(x32))), _haar_dwt(x), rtol=0, atol=OP)
    np.testing.assert_allclose(_nhwc(twavelet.dwt(_nchw(x32))), _haar_dwt(x), rtol=0, atol=OP)
    np.testing.assert_allclose(np.asarray(jwavelet.iwt(jnp.asarray(y32))), _haar_iwt(y), rtol=0, atol=OP)
    np.testing.assert_allclose(_nhwc(twavelet.iwt(_nchw(y32))), _haar_iwt(y), rtol=0, atol=OP)


# --- CS blocks -----------------------------------------------------------------------------------------------

def _ista_blocks(img, block=33):
    """imread_CS_py + img2col_py of the ISTA-Net test script: pad right/bottom by block - n % block (always),
    then blocks row of blocks by row of blocks, each flattened row-major."""
    h, w = img.shape
    padded = np.zeros((h + block - h % block, w + block - w % block), img.dtype)
    padded[:h, :w] = img
    return np.stack([padded[i:i + block, j:j + block].reshape(-1)
                     for i in range(0, padded.shape[0], block) for j in range(0, padded.shape[1], block)]), padded


@pytest.mark.parametrize("shape", [(40, 70), (33, 34)])
def test_cs_block_layout_of_both_twins_against_the_test_script(shape):
    img = np.random.default_rng(6).random(shape).astype(np.float32)
    want, padded = _ista_blocks(img)
    assert padded.shape == (66, 99) if shape == (40, 70) else (66, 66)
    j_rows, j_meta = jcs.image_to_blocks(jnp.asarray(img))
    t_rows, t_meta = tcs.image_to_blocks(torch.from_numpy(img))
    np.testing.assert_array_equal(np.asarray(j_rows), want)
    np.testing.assert_array_equal(t_rows.numpy(), want)
    np.testing.assert_array_equal(np.asarray(jcs.pad_to_blocks(jnp.asarray(img))), padded)
    np.testing.assert_array_equal(tcs.pad_to_blocks(torch.from_numpy(img)).numpy(), padded)
    np.testing.assert_array_equal(np.asarray(jcs.blocks_to_image(jnp.asarray(want), j_meta)), img)
    np.testing.assert_array_equal(tcs.blocks_to_image(torch.from_numpy(want), t_meta).numpy(), img)


# --- default initialisation ----------------------------------------------------------------------------------

def _check_kaiming_uniform_a_sqrt5(w, fan_in, what):
    """U(-b, b) with b = 1 / sqrt(fan_in) (kaiming_uniform(a=sqrt(5)): gain sqrt(2 / 6), bound gain sqrt(3 / fan_in)).

    mean(w^2) of U(-b, b) is b^2 / 3 with standard error sqrt(4 / 45) b^2 / sqrt(n)."""
    w = np.asarray(w, np.float64).ravel()
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound * (1 + FLOAT32_ROUNDING), (what, np.abs(w).max(), bound)
    assert np.abs(w).max() >= bound * (1 - 20 / w.size), (what, np.abs(w).max(), bound)  # P(miss) ~ e^-20
    se = math.sqrt(4 / 45) * bound ** 2 / math.sqrt(w.size)
    assert abs(np.mean(w ** 2) - bound ** 2 / 3) <= STAT_Z * se, (what, np.mean(w ** 2), bound ** 2 / 3, se)


@pytest.mark.parametrize("make, fan_in", [
    (lambda r: Conv2d(24, 48, 3, rngs=r), 24 * 9),
    (lambda r: Conv2d(24, 48, (3, 5), groups=4, rngs=r), 6 * 15),
    (lambda r: ConvTranspose2d(48, 24, 4, rngs=r), 24 * 16),  # weight.size(1) = out_channels: not in_channels
    (lambda r: ConvTranspose2d(48, 24, 3, groups=3, rngs=r), 8 * 9),
    (lambda r: Linear(300, 40, rngs=r), 300),
], ids=["conv", "conv_grouped", "conv_transpose", "conv_transpose_grouped", "linear"])
def test_default_init_is_pytorch_documented_bound(make, fan_in):
    layer = make(nnx.Rngs(0))
    _check_kaiming_uniform_a_sqrt5(layer.weight[...], fan_in, "weight")
    b = np.asarray(layer.bias[...], np.float64)  # bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), too few for moments
    assert np.abs(b).max() <= 1 / math.sqrt(fan_in) * (1 + FLOAT32_ROUNDING)
    assert np.abs(b).max() > 0.5 / math.sqrt(fan_in)
