"""Wiener deconvolution and circular blur against float64 NumPy references; PSF generators; errors."""
import functools

import jax
import numpy as np
import pytest

from jrestore.ops.wiener import blur, gaussian_psf, motion_psf, wiener_deconvolve
from jrestore.parity.tolerances import FLOAT64, FLOAT64_FEW_ROUNDINGS, OP, WIENER_RECOVERY_PSNR_DB


def _np_circular_blur(x, psf):
    """Direct circular convolution: y[i, j] = sum_{u, v} psf[u, v] x[i - u + cu, j - v + cv]."""
    cu, cv = psf.shape[0] // 2, psf.shape[1] // 2
    y = np.zeros(x.shape, np.float64)
    for u in range(psf.shape[0]):
        for v in range(psf.shape[1]):
            y += psf[u, v] * np.roll(x.astype(np.float64), (u - cu, v - cv), axis=(1, 2))
    return y


def _np_otf(psf, h, w):
    """Transfer function with the PSF centre wrapped to (0, 0), placed by modular indices."""
    big = np.zeros((h, w))
    for u in range(psf.shape[0]):
        for v in range(psf.shape[1]):
            big[(u - psf.shape[0] // 2) % h, (v - psf.shape[1] // 2) % w] += psf[u, v]
    return np.fft.fft2(big)


def _np_wiener(y, psf, k):
    hf = _np_otf(psf, y.shape[1], y.shape[2])[None, :, :, None]
    g = np.conj(hf) / (np.abs(hf) ** 2 + k)
    return np.real(np.fft.ifft2(np.fft.fft2(y.astype(np.float64), axes=(1, 2)) * g, axes=(1, 2)))


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(size=(2, 17, 15, 3)).astype(np.float32)


def _asymmetric_psf():
    p = np.random.default_rng(3).uniform(size=(3, 5))
    return p / p.sum()


@pytest.mark.parametrize("psf", [_asymmetric_psf(), gaussian_psf(5, 1.2), motion_psf(7, 30)],
                         ids=["rand3x5", "gauss", "motion"])
def test_blur_matches_direct_circular_convolution(x, psf):
    out = jax.jit(functools.partial(blur, psf=psf))(x)
    np.testing.assert_allclose(np.asarray(out, np.float64), _np_circular_blur(x, psf), rtol=0, atol=OP)


def test_centred_delta_does_not_move_the_image(x):
    delta = np.zeros((3, 5))
    delta[1, 2] = 1.0
    np.testing.assert_allclose(np.asarray(blur(x, delta)), x, rtol=0, atol=OP)


@pytest.mark.parametrize("k", [1e-2, 1e-1])
def test_wiener_matches_numpy_fft(x, k):
    psf = _asymmetric_psf()
    y = _np_circular_blur(x, psf).astype(np.float32)
    out = jax.jit(functools.partial(wiener_deconvolve, psf=psf, k=k))(y)
    np.testing.assert_allclose(np.asarray(out, np.float64), _np_wiener(y, psf, k), rtol=0, atol=OP)


def test_small_k_recovers_the_image(x):
    psf = gaussian_psf(5, 0.8)  # |H| >= 8e-3 on 17x15: invertible
    y = blur(x, psf)
    psnr = lambda a: 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - x) ** 2))
    assert psnr(y) < 25.0  # the blur is real
    assert psnr(wiener_deconvolve(y, psf, 1e-9)) > WIENER_RECOVERY_PSNR_DB
    assert psnr(wiener_deconvolve(y, psf, 0.0)) > WIENER_RECOVERY_PSNR_DB


def test_psf_generators():
    g = gaussian_psf(7, 1.5)
    assert g.shape == (7, 7) and g.dtype == np.float64 and abs(g.sum() - 1) < FLOAT64_FEW_ROUNDINGS
    r = np.arange(7) - 3
    ref = np.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * 1.5 ** 2))
    np.testing.assert_allclose(g, ref / ref.sum(), rtol=10 * FLOAT64_FEW_ROUNDINGS)
    box = np.zeros((5, 5))
    box[2] = 0.2
    np.testing.assert_array_equal(motion_psf(5, 0), box)
    np.testing.assert_allclose(motion_psf(5, 90), box.T, atol=FLOAT64_FEW_ROUNDINGS)
    m = motion_psf(9, 45)
    assert m.shape == (9, 9) and abs(m.sum() - 1) < FLOAT64
    np.testing.assert_array_equal(m, m[::-1, ::-1])  # symmetric about the centre
    np.testing.assert_array_equal(np.nonzero(m)[0], np.nonzero(m)[1][::-1])  # up and to the right
    assert motion_psf(4, 0)[2].tolist() == [0, 0.25, 0.25, 0.25, 0.25]


def test_errors(x):
    with pytest.raises(ValueError, match=r"psf: expected a 2-D \[kh, kw\] kernel, got shape \(3, 3, 1\)"):
        blur(x, np.ones((3, 3, 1)) / 9)
    with pytest.raises(ValueError, match="psf: expected a kernel no larger than the image 17x15, got 19x3"):
        wiener_deconvolve(x, np.ones((19, 3)), 0.01)
    with pytest.raises(ValueError, match="psf: expected a positive sum, got 0.0"):
        wiener_deconvolve(x, np.zeros((3, 3)), 0.01)
    with pytest.raises(ValueError, match="k: expected a non-negative value"):
        wiener_deconvolve(x, gaussian_psf(3, 1.0), -1e-3)
    with pytest.raises(ValueError, match="y: expected a rank-4"):
        wiener_deconvolve(x[0], gaussian_psf(3, 1.0), 0.01)
    with pytest.raises(ValueError, match="size: expected an odd positive int, got 4"):
        gaussian_psf(4, 1.0)
    with pytest.raises(ValueError, match="sigma: expected a positive value"):
        gaussian_psf(5, 0.0)
    with pytest.raises(ValueError, match="length: expected a value >= 1"):
        motion_psf(0.5, 10)
