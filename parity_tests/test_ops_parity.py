"""jrestore.ops against torch_ref.ops: wavelet, shrinkage, CS blocks, Wiener, noise.

Deterministic ops agree to tolerances.OP; block rearrangements agree exactly; noise streams differ between
frameworks, so noise is compared by its statistics (within Z standard errors) in both.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jrestore.ops import cs_blocks as j_cs, noise as j_noise, shrinkage as j_shrink, wavelet as j_wav, wiener as j_wie
from jrestore.parity.harness import assert_close, to_nhwc, torch_input
from jrestore.parity.tolerances import FLOAT32_LEVELS, GRADIENT, MATMUL_REL, OP, STAT_Z as Z
from torch_ref.ops import cs_blocks as t_cs, noise as t_noise, shrinkage as t_shrink, wavelet as t_wav, wiener as t_wie



def _assert_matmul_close(j_out, t_out, lhs, rhs, name):
    """Float32 products of 272-1089 terms: max |jax - torch| <= OP * max(|lhs| @ |rhs|), the scale of the
    standard dot-product rounding bound. XLA's CPU dot and torch.mm accumulate in different orders: on
    Set11 with the official Phi the difference is 3.1e-6 for |y| <= 2.5, i.e. 2.2e-7 of that scale."""
    scale = float((np.abs(np.asarray(lhs, np.float64)) @ np.abs(np.asarray(rhs, np.float64))).max())
    diff = float(np.abs(np.asarray(j_out, np.float64) - t_out.numpy()).max())
    assert diff <= OP * scale, f"{name}: max_abs {diff:.3e} > {OP} * {scale:.3g}"


def _rng_image(shape, seed=0, low=-0.2, high=1.2):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------- wavelet

def test_wavelet_parity():
    x = _rng_image((2, 18, 14, 3))  # DWT halves are 9x7
    assert_close(j_wav.dwt(x), t_wav.dwt(torch_input(x)), OP, "dwt")
    y = np.random.default_rng(1).normal(size=(2, 9, 7, 8)).astype(np.float32)
    assert_close(j_wav.iwt(y), t_wav.iwt(torch_input(y)), OP, "iwt")


def test_wavelet_gradient_parity():
    x = _rng_image((2, 18, 14, 3))
    w = np.random.default_rng(2).normal(size=(2, 18, 14, 3)).astype(np.float32)

    def j_loss(v):
        return jnp.sum(jnp.sin(3 * j_wav.iwt(jnp.tanh(j_wav.dwt(v)))) * w)

    xt = torch_input(x).requires_grad_(True)
    (torch.sin(3 * t_wav.iwt(torch.tanh(t_wav.dwt(xt)))) * torch_input(w)).sum().backward()  # no in-place writes
    assert_close(jax.grad(j_loss)(x), xt.grad, GRADIENT, "grad", relative=True)


def test_wavelet_errors_torch():
    with pytest.raises(ValueError, match="x: expected height and width divisible by 2, got 17x14"):
        t_wav.dwt(torch.zeros(1, 1, 17, 14))
    with pytest.raises(ValueError, match="x channels: expected a multiple of 4, got 6"):
        t_wav.iwt(torch.zeros(1, 6, 3, 3))
    with pytest.raises(ValueError, match="rank-4 NCHW"):
        t_wav.dwt(torch.zeros(4, 4))


# -------------------------------------------------------------------------------------------- shrinkage

def test_soft_threshold_parity():
    x = np.random.default_rng(3).normal(size=(2, 17, 15, 3)).astype(np.float32)
    x[0, 0, 0] = [0.0, 0.3, -0.3]
    assert_close(j_shrink.soft_threshold(x, 0.3), t_shrink.soft_threshold(torch_input(x), 0.3), OP, "scalar")
    t = np.array([0.0, 0.5, -0.1], np.float32)
    assert_close(j_shrink.soft_threshold(x, t.reshape(1, 1, 1, 3)),
                 t_shrink.soft_threshold(torch_input(x), torch.from_numpy(t).reshape(1, 3, 1, 1)), OP, "per_channel")
    rows = x.reshape(-1, 9)  # ISTA-Net: a shape-(1,) learnable threshold on [N, 1089]-like rows
    assert_close(j_shrink.soft_threshold(rows, jnp.asarray([0.2])),
                 t_shrink.soft_threshold(torch.from_numpy(rows), torch.tensor([0.2])), OP, "ista")
    with pytest.raises(ValueError, match="x: expected a floating-point array"):
        t_shrink.soft_threshold(torch.arange(3), 1)


# ------------------------------------------------------------------------------------------- CS blocks

@pytest.mark.parametrize("shape,block", [((17, 15), 5), ((2, 40, 37, 1), 33), ((2, 33, 66, 1), 33)])
def test_cs_blocks_parity_is_exact(shape, block):
    img = _rng_image(shape, seed=4, low=0, high=1)
    timg = torch_input(img) if img.ndim == 4 else torch.from_numpy(img)
    j_rows, j_meta = j_cs.image_to_blocks(jnp.asarray(img), block)
    t_rows, t_meta = t_cs.image_to_blocks(timg, block)
    assert j_meta == t_meta
    np.testing.assert_array_equal(np.asarray(j_rows), t_rows.numpy())
    np.testing.assert_array_equal(np.asarray(j_cs.pad_to_blocks(jnp.asarray(img), block)),
                                  to_nhwc(t_cs.pad_to_blocks(timg, block)))
    back = t_cs.blocks_to_image(t_rows, t_meta)
    assert back.shape == timg.shape
    np.testing.assert_array_equal(to_nhwc(back), np.asarray(j_cs.blocks_to_image(j_rows, j_meta)))
    np.testing.assert_array_equal(back.numpy(), timg.numpy())


def test_cs_measure_parity():
    rng = np.random.default_rng(5)
    blocks = rng.uniform(size=(6, 1089)).astype(np.float32)
    phi = (rng.normal(size=(272, 1089)) / np.sqrt(1089)).astype(np.float32)
    qinit = (rng.normal(size=(1089, 272)) / np.sqrt(272)).astype(np.float32)
    y_j, y_t = j_cs.measure(blocks, phi), t_cs.measure(torch.from_numpy(blocks), torch.from_numpy(phi))
    _assert_matmul_close(y_j, y_t, blocks, phi.T, "y")
    x0_t = t_cs.initial_estimate(torch.from_numpy(np.array(y_j)), torch.from_numpy(qinit))
    _assert_matmul_close(j_cs.initial_estimate(y_j, qinit), x0_t, y_j, qinit.T, "x0")
    with pytest.raises(ValueError, match="phi: expected a matrix with 1089 columns"):
        t_cs.measure(torch.from_numpy(blocks), torch.from_numpy(phi[:, :-1]))
    with pytest.raises(ValueError, match=r"img: expected a grey image \[H, W\] or a batch \[B, 1, H, W\]"):
        t_cs.image_to_blocks(torch.zeros(17, 15, 1))
    with pytest.raises(ValueError, match="img: expected 1 channels"):
        t_cs.pad_to_blocks(torch.zeros(2, 3, 17, 15))


@pytest.mark.data
def test_cs_protocol_on_set11_with_official_matrices(shared_data):
    from PIL import Image
    from scipy.io import loadmat

    cs = shared_data / "cs"
    phi = loadmat(cs / "ista_net/sampling_matrix/phi_0_25_1089.mat")["phi"]
    qinit = loadmat(cs / "ista_net/sampling_matrix/Initialization_Matrix_25.mat")["Qinit"]
    img = np.array(Image.open(cs / "Set11/Parrots.tif").convert("L"))  # grey palette: Y = grey value
    j_rows, meta = j_cs.image_to_blocks(jnp.asarray(img))
    t_rows, _ = t_cs.image_to_blocks(torch.from_numpy(img))
    assert j_rows.shape == (64, 1089) and meta.padded_height == 264  # 256 -> 264 = 8 blocks
    x = np.asarray(j_rows, np.float32) / 255.0
    np.testing.assert_array_equal(x, (t_rows.to(torch.float32) / 255.0).numpy())
    y_j, y_t = j_cs.measure(x, phi.astype(np.float32)), t_cs.measure(torch.from_numpy(x), torch.from_numpy(phi).float())
    x0_j = j_cs.initial_estimate(y_j, qinit.astype(np.float32))
    x0_t = t_cs.initial_estimate(torch.from_numpy(np.array(y_j)), torch.from_numpy(qinit).float())
    _assert_matmul_close(y_j, y_t, x, phi.T, "y")
    _assert_matmul_close(x0_j, x0_t, y_j, qinit.T, "x0")
    y64 = x.astype(np.float64) @ phi.T
    x064 = np.asarray(y_j, np.float64) @ qinit.T
    assert np.abs(np.asarray(y_j) - y64).max() <= MATMUL_REL * np.abs(y64).max()
    assert np.abs(np.asarray(x0_j) - x064).max() <= MATMUL_REL * np.abs(x064).max()


# ---------------------------------------------------------------------------------------------- Wiener

@pytest.mark.parametrize("psf", [j_wie.gaussian_psf(5, 1.2), j_wie.motion_psf(7, 30), np.arange(15.0).reshape(3, 5)],
                         ids=["gauss", "motion", "asym"])
def test_wiener_parity(psf):
    psf = psf / psf.sum()
    x = _rng_image((2, 17, 15, 3), seed=6, low=0, high=1)
    y_j = jax.jit(functools.partial(j_wie.blur, psf=psf))(x)
    y_t = t_wie.blur(torch_input(x), psf)
    assert_close(y_j, y_t, OP, "blur")
    for k in (1e-2, 1e-1):
        w_t = t_wie.wiener_deconvolve(torch_input(np.asarray(y_j)), psf, k)
        assert_close(j_wie.wiener_deconvolve(y_j, psf, k), w_t, OP, f"wiener_k{k}")
    assert_close(y_j, t_wie.blur(torch_input(x), torch.from_numpy(psf)), OP, "blur_torch_psf")


def test_wiener_errors_torch():
    x = torch.zeros(2, 3, 17, 15)
    with pytest.raises(ValueError, match=r"psf: expected a 2-D \[kh, kw\] kernel"):
        t_wie.blur(x, torch.ones(1, 3, 3))
    with pytest.raises(ValueError, match="psf: expected a kernel no larger than the image 17x15, got 3x16"):
        t_wie.wiener_deconvolve(x, np.ones((3, 16)), 0.01)
    with pytest.raises(ValueError, match="psf: expected a positive sum"):
        t_wie.wiener_deconvolve(x, -torch.ones(3, 3), 0.01)
    with pytest.raises(ValueError, match="k: expected a non-negative value"):
        t_wie.wiener_deconvolve(x, np.ones((3, 3)), -1.0)


# ----------------------------------------------------------------------------------------------- noise

SHAPE = (2, 129, 97, 3)  # NHWC, 75,078 samples


def _gaussian_stats_ok(residual, sigma):
    s, n = sigma / 255, residual.size
    return abs(residual.mean()) < Z * s / np.sqrt(n) and abs(residual.std() / s - 1) < Z / np.sqrt(2 * n)


def test_gaussian_noise_statistics_in_both():
    x = _rng_image(SHAPE, seed=7, low=0.1, high=0.9)
    g = lambda seed: torch.Generator().manual_seed(seed)
    r_j = np.asarray(j_noise.add_gaussian_noise(jax.random.key(0), x, 25.0), np.float64) - x
    r_t = to_nhwc(t_noise.add_gaussian_noise(g(0), torch_input(x), 25.0)).astype(np.float64) - x
    assert _gaussian_stats_ok(r_j, 25.0) and _gaussian_stats_ok(r_t, 25.0)
    assert abs(r_j.std() / r_t.std() - 1) < Z * np.sqrt(2 / (2 * r_j.size))  # the two agree with each other
    xt = torch_input(x)
    assert torch.equal(t_noise.add_gaussian_noise(g(1), xt, 25.0), t_noise.add_gaussian_noise(g(1), xt, 25.0))
    assert not torch.equal(t_noise.add_gaussian_noise(g(1), xt, 25.0), t_noise.add_gaussian_noise(g(2), xt, 25.0))
    assert torch.equal(t_noise.add_gaussian_noise(g(1), xt, 0.0), xt)
    assert float(t_noise.add_gaussian_noise(g(1), xt, 60.0).max()) > 1  # not clipped


def test_poisson_noise_statistics_in_both():
    x, peak = np.full(SHAPE, 0.3, np.float32), 40.0
    var, lam, n = 0.3 / peak, 0.3 * peak, x.size
    var_se = np.sqrt((lam + 2 * lam ** 2) / peak ** 4 / n)
    y_j = np.asarray(j_noise.add_poisson_noise(jax.random.key(0), x, peak), np.float64)
    y_t = to_nhwc(t_noise.add_poisson_noise(torch.Generator().manual_seed(0), torch_input(x), peak)).astype(np.float64)
    for y in (y_j, y_t):
        assert abs(y.mean() - 0.3) < Z * np.sqrt(var / n) and abs(y.var() - var) < Z * var_se
        np.testing.assert_allclose(y * peak, np.round(y * peak), rtol=0, atol=FLOAT32_LEVELS)
    xt, g = torch_input(x), lambda: torch.Generator().manual_seed(5)
    assert torch.equal(t_noise.add_poisson_noise(g(), xt, peak), t_noise.add_poisson_noise(g(), xt, peak))
    assert torch.equal(t_noise.add_poisson_noise(g(), -torch.ones(2, 3), peak), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="peak: expected a positive value"):
        t_noise.add_poisson_noise(g(), xt, 0.0)


def test_salt_and_pepper_statistics_in_both():
    x, amount, svp = _rng_image(SHAPE, seed=8, low=0.1, high=0.9), 0.07, 0.3
    y_j = np.asarray(j_noise.add_salt_and_pepper(jax.random.key(0), x, amount, svp))
    y_t = to_nhwc(t_noise.add_salt_and_pepper(torch.Generator().manual_seed(0), torch_input(x), amount, svp))
    for y in (y_j, y_t):
        hit = y != x
        assert abs(hit.mean() - amount) < Z * np.sqrt(amount * (1 - amount) / y.size)
        assert set(np.unique(y[hit]).tolist()) == {0.0, 1.0}
        assert abs((y[hit] == 1).mean() - svp) < Z * np.sqrt(svp * (1 - svp) / hit.sum())
    xt, g = torch_input(x), lambda: torch.Generator().manual_seed(5)
    assert torch.equal(t_noise.add_salt_and_pepper(g(), xt, amount), t_noise.add_salt_and_pepper(g(), xt, amount))
    assert torch.equal(t_noise.add_salt_and_pepper(g(), xt, 0.0), xt)
    with pytest.raises(ValueError, match=r"amount: expected a value in \[0, 1\]"):
        t_noise.add_salt_and_pepper(g(), xt, -0.1)


def test_legacy_numpy_noise_is_one_definition():
    assert t_noise.numpy_legacy_gaussian_noise is j_noise.numpy_legacy_gaussian_noise
    with pytest.raises(ValueError, match="x: expected a floating-point array"):
        t_noise.add_gaussian_noise(torch.Generator(), torch.zeros(3, dtype=torch.uint8), 15.0)
