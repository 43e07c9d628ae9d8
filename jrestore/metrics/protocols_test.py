"""Named protocols: the registry, knob resolution, and each protocol against its source script transcribed."""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrestore.metrics import PROTOCOLS, get_protocol, psnr, resolve_knobs
from jrestore.metrics.psnr_test import pairs
from jrestore.ops.color import rgb_to_y_yjn870
from jrestore.parity.tolerances import METRIC


def test_registry():
    assert sorted(PROTOCOLS) == ["ista_net", "kair_dncnn", "selfexsr", "yjn870"]
    for name, src in [("selfexsr", "compute_difference.m"), ("ista_net", "TEST_CS_ISTA_Net_plus.py"),
                      ("kair_dncnn", "main_test_dncnn.py"), ("yjn870", "test.py")]:
        assert src in get_protocol(name).source and get_protocol(name).description
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_protocol("selfexsr").crop_border = 0
    names = r"protocol: expected one of \['ista_net', 'kair_dncnn', 'selfexsr', 'yjn870'\]"
    with pytest.raises(ValueError, match=names):
        get_protocol("set5")


def test_resolve_knobs():
    k = resolve_knobs("selfexsr", 4, crop_border=0, y_channel=None, quantize=None, data_range=255.0)
    assert k == dict(crop_border=4, y_channel="matlab", quantize="round", data_range=255.0)
    with pytest.raises(ValueError, match="crop_border: protocol='selfexsr' sets it to 'scale'; got 2"):
        resolve_knobs("selfexsr", 4, crop_border=2)
    with pytest.raises(ValueError, match="scale: crop_border='scale'"):
        resolve_knobs(None, None, crop_border="scale")
    with pytest.raises(ValueError, match="crop_border: expected a non-negative integer"):
        resolve_knobs(None, None, crop_border=-1)
    with pytest.raises(ValueError, match="data_range: expected a positive value"):
        resolve_knobs(None, None, data_range=0)
    with pytest.raises(ValueError, match="quantize: expected one of"):
        resolve_knobs(None, None, quantize="floor")


# --- the source scripts, transcribed on uint8 / 0..255 arrays (one image, H x W x C) -------------------------

def _selfexsr(sr_float, hr_uint8, s):  # compute_difference.m: rgb2ycbcr on uint8 RGB, shave, 10 log10(255^2 / mse)
    def y(u8):
        r, g, b = (u8[..., i] / 255.0 for i in range(3))
        return np.round(16 + 65.481 * r + 128.553 * g + 24.966 * b)  # MATLAB returns uint8 for uint8 input
    im = y(np.round(np.clip(sr_float * 255, 0, 255)))[s:-s, s:-s]
    gt = y(hr_uint8)[s:-s, s:-s]
    return 10 * np.log10(255 ** 2 / np.mean((im - gt) ** 2))


def _ista(rec_float_y, org_uint8_y):  # X_rec clipped, psnr(X_rec * 255, Iorg)
    mse = np.mean((np.clip(rec_float_y, 0, 1) * 255 - org_uint8_y) ** 2)
    return 100 if mse == 0 else 20 * np.log10(255.0 / np.sqrt(mse))


def _kair(e_float, h_uint8):  # util.single2uint then util.calculate_psnr(border=0)
    e = np.uint8((np.clip(e_float, 0, 1) * 255.0).round()).astype(np.float64)
    return 20 * np.log10(255.0 / np.sqrt(np.mean((e - h_uint8) ** 2)))


def _yjn870(pred_y, hr_rgb_uint8):  # preprocess(hr) -> Y / 255; calc_psnr(hr, preds.clamp(0, 1))
    r, g, b = (hr_rgb_uint8[..., i] for i in range(3))
    hr_y = (16.0 + (64.738 * r + 129.057 * g + 25.064 * b) / 256.0) / 255.0
    return 10 * np.log10(1.0 / np.mean((hr_y - np.clip(pred_y[..., 0], 0, 1)) ** 2))


def test_protocols_match_transcribed_scripts():
    _, off, ref = pairs(30, (2, 23, 19, 3))
    _, off_g, ref_g = pairs(31, (2, 23, 19, 1))
    u8, u8_g = np.round(ref * 255), np.round(ref_g * 255)
    with jax.enable_x64(True):
        def run(a, b, **kw):
            return np.asarray(jax.jit(functools.partial(psnr, **kw))(jnp.asarray(a), jnp.asarray(b)))

        for s in (2, 3, 4):
            np.testing.assert_allclose(run(off, ref, protocol="selfexsr", scale=s),
                                       [_selfexsr(off[i], u8[i], s) for i in range(2)], rtol=0, atol=METRIC)
        np.testing.assert_allclose(run(off_g, ref_g, protocol="ista_net"),
                                   [_ista(off_g[i], u8_g[i]) for i in range(2)], rtol=0, atol=METRIC)
        np.testing.assert_array_equal(run(ref_g, ref_g, protocol="ista_net"), [100, 100])
        np.testing.assert_allclose(run(off_g, ref_g, protocol="kair_dncnn"),
                                   [_kair(off_g[i], u8_g[i]) for i in range(2)], rtol=0, atol=METRIC)
        # yjn870: the model predicts Y (1 channel); the caller takes the reference Y of the RGB HR image
        ref_y = np.asarray(rgb_to_y_yjn870(jnp.asarray(ref)))
        np.testing.assert_allclose(run(off_g, ref_y, protocol="yjn870"),
                                   [_yjn870(off_g[i], u8[i]) for i in range(2)], rtol=0, atol=METRIC)
