"""torch_ref.metrics against the float64 NumPy reference and against jrestore.metrics.

As docs/conventions.md §14 item 6 asks: identical uint8 pairs through both frameworks and a float64 reference."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jrestore import metrics as jm
from jrestore.metrics import psnr_reference, ssim_reference
from jrestore.parity.tolerances import METRIC, METRIC_FLOAT32
from torch_ref import metrics as tm

PSNR_CASES = [dict(), dict(crop_border=3), dict(y_channel="matlab", y_round=True, crop_border=2),
              dict(y_channel="opencv"), dict(y_channel="opencv", y_round=True), dict(y_channel="yjn870"),
              dict(quantize="round", mse_zero=100), dict(protocol="selfexsr", scale=3), dict(protocol="ista_net"),
              dict(protocol="kair_dncnn"), dict(protocol="yjn870")]
SSIM_CASES = [dict(), dict(variant="skimage", y_channel="matlab", crop_border=1),
              dict(protocol="selfexsr", scale=2), dict(protocol="ista_net"), dict(protocol="yjn870")]


def _pairs(seed, shape=(2, 23, 19, 3)):
    """(uint8-grid restored, off-grid restored, uint8-grid reference), float64 NHWC."""
    rng = np.random.default_rng(seed)
    ref = np.round(np.clip(rng.uniform(0, 255, shape[:1] + (1, 1, shape[3])) + rng.normal(0, 60, shape), 0, 255))
    noisy = ref + rng.normal(0, 6, shape)
    return np.round(np.clip(noisy, 0, 255)) / 255, (noisy + 0.3) / 255 * 1.05 - 0.02, ref / 255


def _t(x, dtype=torch.float64):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(dtype)


@pytest.mark.parametrize("metric,cases", [("psnr", PSNR_CASES), ("ssim", SSIM_CASES)])
@pytest.mark.parametrize("channels", [3, 1])
def test_torch_float64_matches_reference(metric, cases, channels):
    reference = psnr_reference if metric == "psnr" else ssim_reference
    grid, off, ref = _pairs(channels, (2, 23, 19, channels))
    for kw in cases:
        for a in (grid, off):
            got = getattr(tm, metric)(_t(a), _t(ref), **kw)
            assert got.dtype == torch.float64 and got.shape == (2,)
            np.testing.assert_allclose(got.numpy(), reference(a, ref, **kw), rtol=0, atol=METRIC, err_msg=str(kw))


@pytest.mark.parametrize("metric,cases", [("psnr", PSNR_CASES), ("ssim", SSIM_CASES)])
def test_torch_float32_and_jax_float32(metric, cases):
    reference = psnr_reference if metric == "psnr" else ssim_reference
    grid, off, ref = _pairs(5)
    for kw in cases:
        f = jax.jit(functools.partial(getattr(jm, metric), **kw))
        for a in (grid, off):
            want = reference(a, ref, **kw)
            t = getattr(tm, metric)(_t(a, torch.float32), _t(ref, torch.float32), **kw).numpy()
            j = np.asarray(f(a.astype(np.float32), ref.astype(np.float32)))
            np.testing.assert_allclose(t, want, rtol=0, atol=METRIC_FLOAT32, err_msg=str(kw))
            np.testing.assert_allclose(j, t, rtol=0, atol=METRIC_FLOAT32, err_msg=str(kw))


def test_torch_and_jax_float64_agree():
    grid, _, ref = _pairs(6)
    with jax.enable_x64(True):
        j, js = (np.asarray(jax.jit(functools.partial(f, protocol="selfexsr", scale=4))(jnp.asarray(grid),
                                                                                        jnp.asarray(ref)))
                 for f in (jm.psnr, jm.ssim))
    np.testing.assert_allclose(tm.psnr(_t(grid), _t(ref), protocol="selfexsr", scale=4).numpy(), j, rtol=0,
                               atol=METRIC)
    np.testing.assert_allclose(tm.ssim(_t(grid), _t(ref), protocol="selfexsr", scale=4).numpy(), js, rtol=0,
                               atol=METRIC)


def test_single_image_and_explicit_numbers():
    _, _, ref = _pairs(7, (1, 21, 17, 3))
    x = _t(ref)[0]  # [C, H, W]
    assert tm.psnr(x, x).ndim == 0 and torch.isinf(tm.psnr(x, x))
    assert float(tm.psnr(x, x, protocol="ista_net")) == 100.0
    assert abs(float(tm.psnr(x + 1 / 255, x)) - 20 * np.log10(255)) <= METRIC
    assert abs(float(tm.ssim(x, x)) - 1.0) <= METRIC


def test_torch_errors():
    x = torch.zeros(2, 3, 12, 10)
    with pytest.raises(ValueError, match=r"b: expected the shape of a \(2, 3, 12, 10\), got \(2, 1, 12, 10\)"):
        tm.psnr(x, x[:, :1])
    with pytest.raises(ValueError, match="a: expected a floating-point array"):
        tm.psnr(x.to(torch.uint8), x)
    with pytest.raises(ValueError, match="crop_border: crop_border=5 .* leaves 2x0"):
        tm.psnr(x, x, crop_border=5)
    with pytest.raises(ValueError, match="a: crop_border=0 .* at least 11x11 needed"):
        tm.ssim(x, x)
    names = r"protocol: expected one of \['ista_net', 'kair_dncnn', 'selfexsr', 'yjn870'\]"
    with pytest.raises(ValueError, match=names):
        tm.ssim(x, x, protocol="matlab")
    with pytest.raises(ValueError, match="a: y_channel='opencv' needs 1 or 3 channels, got 2"):
        tm.psnr(torch.zeros(2, 12, 10), torch.zeros(2, 12, 10), y_channel="opencv")
    with pytest.raises(ValueError, match="y_round: protocol='kair_dncnn' sets it to False; got True"):
        tm.psnr(x, x, protocol="kair_dncnn", y_round=True)
