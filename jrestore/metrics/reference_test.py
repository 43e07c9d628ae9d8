"""The float64 NumPy references against scikit-image where the definitions coincide."""
import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio as sk_psnr, structural_similarity as sk_ssim

from jrestore.metrics import psnr_reference, ssim_reference
from jrestore.metrics.psnr_test import pairs
from jrestore.parity.tolerances import METRIC

GAUSS = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)  # Wang et al., per skimage's docs


def _y(x):  # skimage's MATLAB-style Y, 0..255
    return rgb2ycbcr(x)[..., :1]


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_matches_skimage(channels):
    _, off, ref = pairs(20, (2, 23, 19, channels))
    got = psnr_reference(off, ref)
    want = [sk_psnr(ref[i], off[i], data_range=1.0) for i in range(2)]
    np.testing.assert_allclose(got, want, rtol=0, atol=METRIC)
    np.testing.assert_allclose(psnr_reference(off * 255, ref * 255, data_range=255.0), want, rtol=0, atol=METRIC)


def test_psnr_y_crop_matches_skimage():
    grid, off, ref = pairs(21)
    for a in (grid, off):
        got = psnr_reference(a, ref, y_channel="matlab", crop_border=4)
        want = [sk_psnr(_y(ref[i])[4:-4, 4:-4], _y(a[i])[4:-4, 4:-4], data_range=255) for i in range(2)]
        np.testing.assert_allclose(got, want, rtol=0, atol=METRIC)
    got = psnr_reference(grid, ref, y_channel="matlab", y_round=True)
    want = [sk_psnr(np.round(_y(ref[i])), np.round(_y(grid[i])), data_range=255) for i in range(2)]
    np.testing.assert_allclose(got, want, rtol=0, atol=METRIC)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_skimage(channels):
    grid, off, ref = pairs(22, (2, 23, 19, channels))
    for a in (grid, off):
        for variant, extra in (("skimage", {}), ("gaussian", GAUSS)):
            got = ssim_reference(a, ref, variant=variant)
            want = [sk_ssim(a[i], ref[i], data_range=1.0, channel_axis=-1, **extra) for i in range(2)]
            np.testing.assert_allclose(got, want, rtol=0, atol=METRIC)


def test_ssim_y_crop_matches_skimage():
    grid, _, ref = pairs(23)
    for variant, extra in (("skimage", {}), ("gaussian", GAUSS)):
        got = ssim_reference(grid, ref, variant=variant, y_channel="matlab", crop_border=3, data_range=1.0)
        # skimage crops (win - 1) / 2 pixels of its own after filtering the whole (already cropped) image
        want = [sk_ssim(_y(grid[i])[3:-3, 3:-3], _y(ref[i])[3:-3, 3:-3], data_range=255, channel_axis=-1, **extra)
                for i in range(2)]
        np.testing.assert_allclose(got, want, rtol=0, atol=METRIC)


def test_reference_errors():
    x = np.zeros((12, 10, 3))
    with pytest.raises(ValueError, match="b: expected the shape of a"):
        psnr_reference(x, x[..., :1])
    with pytest.raises(ValueError, match="a: expected a floating-point array"):
        psnr_reference(x.astype(np.uint8), x)
    with pytest.raises(ValueError, match="crop_border: crop_border=1 leaves less than 11x11"):
        ssim_reference(np.zeros((12, 13, 1)), np.zeros((12, 13, 1)), crop_border=1)
