"""Grey and colour files under each protocol, scored as the authors' scripts score them, in JAX and PyTorch.

A small synthetic test set per protocol mixes grey-mode files ('L'), RGB files whose three channels are equal
and colour files (plus palette / TIFF files where the script reads them). A stand-in model (nearest-neighbour
upsampling, an affine map, or the identity) runs through `jrestore.evaluation.evaluate`, so the protocol's
data preparation and both frameworks' metrics are what is tested. The expected PSNRs come from this file's
own float64 NumPy transcription of each source script, written from the literal constants of the scripts
(nothing is imported from the code under test), per image and as the mean; SSIM is checked against
skimage.metrics.structural_similarity on the same transcribed planes.

The scripts (jrestore.metrics.protocols holds the decisions and their source lines):
  selfexsr    MATLAB imread keeps a grey file H x W; compute_difference.m takes rgb2ycbcr Y only of an image
              with 3 channels, shaves SRF pixels, 10 log10(255^2 / MSE) on uint8 values.
  ista_net    cv2.imread(path, 1) (grey replicated, palette expanded), cv2 BGR2YCrCb Y on uint8,
              20 log10(255 / sqrt(MSE)) of the clipped float reconstruction * 255 against that Y.
  kair_dncnn  util.imread_uint(path, n_channels): 1 -> cv2.imread(path, 0) (libpng's rgb_to_gray for a colour
              PNG, OpenCV's 14-bit weights for TIFF), 3 -> GRAY2RGB; seed-0 noise; single2uint; PSNR on uint8.
  yjn870      PIL .convert('RGB') (grey R = G = B), convert_rgb_to_y in float32, calc_psnr = 10 log10(1 / MSE).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from jrestore.evaluation.evaluate import evaluate
from jrestore.parity import tolerances

FRAMEWORKS = ("jax", "torch")


# ---- the synthetic test sets ----------------------------------------------------------------------------------

def _smooth(rng, h, w, channels):
    """uint8 [h, w, channels] with the structure of a photo: a few low-frequency waves plus mild noise."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for _ in range(channels):
        f = rng.uniform(1.0, 4.0, size=(3, 2))
        p = rng.uniform(0, 2 * np.pi, size=3)
        v = sum(np.sin(2 * np.pi * (f[i, 0] * yy + f[i, 1] * xx) + p[i]) for i in range(3))
        out.append(128 + 40 * v + rng.normal(0, 6, (h, w)))
    return np.clip(np.round(np.stack(out, -1)), 0, 255).astype(np.uint8)


def _matlab_y_float(u8):
    r, g, b = (u8[..., i].astype(np.float64) / 255.0 for i in range(3))
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def _tie_free(u8):
    """Move any pixel whose MATLAB Y lies within 0.01 of a .5 tie (float32 may round those either way)."""
    u8 = u8.copy()
    for _ in range(20):
        frac = _matlab_y_float(u8) % 1.0
        near = np.abs(frac - 0.5) < 0.01
        if not near.any():
            return u8
        u8[..., 2][near] = (u8[..., 2][near].astype(np.int64) + 1) % 256
    raise AssertionError("could not move every near tie")


def _colour(rng, h, w):
    return _tie_free(_smooth(rng, h, w, 3))


def _equal_rgb(rng, h, w):
    return np.repeat(_smooth(rng, h, w, 1), 3, axis=2)


def _grey(rng, h, w):
    return _smooth(rng, h, w, 1)[..., 0]  # 2-D: saved as a grey-mode ('L') file


def _save(folder, name, image):
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(folder / name)


def _as_hw1(a):
    return a[..., None] if a.ndim == 2 else a


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    rng = np.random.default_rng(20261203)
    root = tmp_path_factory.mktemp("grey_sets")
    made = {}
    # SelfExSR layout (LR given): HR 48 x 44, LR = HR subsampled by 2, so nearest upsampling is a fair SR
    sr = root / "selfexsr"
    sr.mkdir()
    for stem, make in (("img_001", _grey), ("img_002", _equal_rgb), ("img_003", _colour), ("img_004", _grey)):
        hr = make(rng, 48, 44)
        _save(sr, f"{stem}_SRF_2_HR.png", hr)
        _save(sr, f"{stem}_SRF_2_LR.png", np.ascontiguousarray(hr[::2, ::2]))
    made["selfexsr"] = sr
    # ISTA-Net: Set11 is TIFF (grey and grey-palette); add a colour palette, an equal-RGB and a colour file.
    # One size per set: the metrics then trace one graph per channel count (the test stays fast).
    cs = root / "ista_net"
    cs.mkdir()
    _save(cs, "a_grey.tif", _grey(rng, 36, 34))
    _save(cs, "b_grey_palette.tif", Image.fromarray(_grey(rng, 36, 34)).convert("P"))
    _save(cs, "c_colour_palette.png", Image.fromarray(_colour(rng, 36, 34)).quantize(32))
    _save(cs, "d_equal.png", _equal_rgb(rng, 36, 34))
    _save(cs, "e_colour.png", _colour(rng, 36, 34))
    made["ista_net"] = cs
    # KAIR: grey PNG, equal-RGB PNG, colour PNG (libpng's grey), colour TIFF (OpenCV's grey), grey TIFF
    dn = root / "kair_dncnn"
    dn.mkdir()
    _save(dn, "01_grey.png", _grey(rng, 30, 28))
    _save(dn, "02_equal.png", _equal_rgb(rng, 30, 28))
    _save(dn, "03_colour.png", _colour(rng, 30, 28))
    _save(dn, "04_colour.tif", _colour(rng, 30, 28))
    _save(dn, "05_grey.tif", _grey(rng, 30, 28))
    made["kair_dncnn"] = dn
    # yjn870: plain folder of originals (not multiples of 3: test.py resizes them to the mod-3 size)
    fs = root / "yjn870"
    fs.mkdir()
    _save(fs, "a_grey.png", _grey(rng, 46, 40))
    _save(fs, "b_equal.png", _equal_rgb(rng, 46, 40))
    _save(fs, "c_colour.png", _colour(rng, 46, 40))
    made["yjn870"] = fs
    return made


# ---- stand-in models ------------------------------------------------------------------------------------------

def _nearest(x, s):
    return np.repeat(np.repeat(x, s, axis=0), s, axis=1)


def _affine(x):
    return 0.9 * x + 0.05


@dataclass
class StandIn:
    """The parts of jrestore.inference.Task that evaluate() uses; the same NumPy 'network' in both frameworks."""
    kind: str
    channels: int | None
    scale: int = 1
    name: str = "stand_in"
    frameworks: tuple = FRAMEWORKS
    seen: list = field(default_factory=list)

    def restore(self, x, framework, tile=None):
        assert x.ndim == 3 and x.dtype == np.float32 and (self.channels is None or x.shape[2] == self.channels)
        self.seen.append(x)
        if self.kind == "sr":
            return _nearest(x, self.scale).astype(np.float32)
        if self.kind == "cs":
            return _affine(x).astype(np.float32)
        return x  # denoise: the identity scores the noisy image itself


# ---- the source scripts, transcribed ---------------------------------------------------------------------------

def _imread_matlab(path):  # MATLAB imread of a PNG: H x W for grey, H x W x 3 for RGB
    return np.asarray(Image.open(path))


def _rgb2ycbcr_y_uint8(u8):  # MATLAB rgb2ycbcr on uint8 -> uint8 (round half away from zero)
    return np.floor(_matlab_y_float(u8) + 0.5)


def _compute_difference(im, imgt, srf):  # compute_difference.m, PSNR part, plus its ssim_index on the same planes
    im = _rgb2ycbcr_y_uint8(im) if im.ndim == 3 and im.shape[2] > 1 else np.squeeze(im).astype(np.float64)
    imgt = _rgb2ycbcr_y_uint8(imgt) if imgt.ndim == 3 and imgt.shape[2] > 1 else np.squeeze(imgt).astype(np.float64)
    im, imgt = im[srf:-srf, srf:-srf], imgt[srf:-srf, srf:-srf]
    psnr = 10 * np.log10(255 * 255 / np.mean((im - imgt) ** 2))
    return psnr, _ssim_gaussian(imgt, im)


def _ssim_gaussian(a, b):  # ssim_index / KAIR calculate_ssim: 11x11 Gaussian sigma 1.5, population statistics
    return structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=-1 if a.ndim == 3 else None)


def _selfexsr_expected(folder, channels):
    """(per-image psnr, per-image ssim, model inputs) for a stand-in SR model taking `channels` (None: any)."""
    psnr, ssim, inputs = {}, {}, {}
    for hr_path in sorted(folder.glob("*_HR.png")):
        stem = hr_path.name[:-len("_SRF_2_HR.png")]
        hr, lr = _imread_matlab(hr_path), _imread_matlab(folder / f"{stem}_SRF_2_LR.png")
        if channels == 1:  # the SR method works on Y of a colour image, on the image itself when grey
            x = _rgb2ycbcr_y_uint8(lr) if lr.ndim == 3 else lr.astype(np.float64)
            x = x[..., None] / 255.0
        elif channels == 3 and lr.ndim == 2:
            x = np.stack([lr] * 3, axis=-1) / 255.0  # a grey image fed to a colour model as R = G = B
        else:
            x = _as_hw1(lr) / 255.0
        out = np.round(np.clip(_nearest(x, 2), 0, 1) * 255)  # the method's uint8 output
        if channels == 1 and lr.ndim == 3:
            gt = _rgb2ycbcr_y_uint8(hr)  # Y against Y
        else:
            gt = hr
        psnr[stem], ssim[stem] = _compute_difference(out, gt, 2)
        inputs[stem] = x
    return psnr, ssim, inputs


def _cv2_y(rgb):  # cv2.cvtColor(BGR2YCrCb)[..., 0] on uint8: fixed point, 14 bits
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return (4899 * r + 9617 * g + 1868 * b + 8192) >> 14


def _ista_expected(folder):
    psnr, ssim, inputs = {}, {}, {}
    for path in sorted(folder.iterdir()):
        img = np.asarray(Image.open(path).convert("RGB"))  # cv2.imread(imgName, 1): 3 channels always
        y = _cv2_y(img).astype(np.float64)
        x_rec = np.clip(_affine(y / 255.0), 0, 1)
        mse = np.mean((x_rec * 255 - y) ** 2)
        psnr[path.name] = 100 if mse == 0 else 20 * np.log10(255.0 / np.sqrt(mse))
        ssim[path.name] = structural_similarity(x_rec * 255, y, data_range=255)  # compare_ssim defaults
        inputs[path.name] = y[..., None] / 255.0
    return psnr, ssim, inputs


def _cv2_imread_grey(path):  # cv2.imread(path, 0)
    im = Image.open(path)
    if im.mode == "L":
        return np.asarray(im).astype(np.int64)
    rgb = np.asarray(im.convert("RGB")).astype(np.int64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if path.suffix == ".png":  # libpng png_set_rgb_to_gray(1, 0.299, 0.587): weights * 32768 truncated, sum >> 15
        wr, wg = int(0.299 * 32768), int(0.587 * 32768)
        grey = (wr * r + wg * g + (32768 - wr - wg) * b) >> 15
        return np.where((r == g) & (g == b), r, grey)
    return (4899 * r + 9617 * g + 1868 * b + 8192) >> 14  # other decoders: OpenCV's BGR -> grey


def _imread_uint(path, n_channels):  # KAIR utils_image.imread_uint
    if n_channels == 1:
        return _cv2_imread_grey(path)[..., None].astype(np.uint8)
    img = np.asarray(Image.open(path))
    return np.stack([img] * 3, axis=-1) if img.ndim == 2 else img


def _kair_expected(folder, n_channels, sigma):
    psnr, ssim, inputs = {}, {}, {}
    for path in sorted(folder.iterdir()):
        img_h = _imread_uint(path, n_channels)
        img_l = np.float32(img_h / 255.0)
        np.random.seed(seed=0)
        img_l += np.random.normal(0, sigma / 255.0, img_l.shape)
        img_e = np.uint8((np.clip(img_l, 0, 1) * 255.0).round()).astype(np.float64)  # identity model
        h = img_h.astype(np.float64)
        mse = np.mean((img_e - h) ** 2)
        psnr[path.name] = float("inf") if mse == 0 else 20 * np.log10(255.0 / np.sqrt(mse))
        ssim[path.name] = _ssim_gaussian(np.squeeze(h), np.squeeze(img_e))
        inputs[path.name] = img_l
    return psnr, ssim, inputs


def _yjn870_y(img):  # utils.convert_rgb_to_y on np.array(img).astype(np.float32), then / 255
    img = np.asarray(img).astype(np.float32)
    return (16. + (64.738 * img[..., 0] + 129.057 * img[..., 1] + 25.064 * img[..., 2]) / 256.) / 255.


def _yjn870_expected(folder, channels):
    psnr, ssim, inputs = {}, {}, {}
    for path in sorted(folder.iterdir()):
        image = Image.open(path).convert("RGB")
        w, h = (image.width // 3) * 3, (image.height // 3) * 3
        hr = image.resize((w, h), resample=Image.BICUBIC)
        lr = hr.resize((hr.width // 3, hr.height // 3), resample=Image.BICUBIC)
        x = _yjn870_y(lr)[..., None] if channels == 1 else np.asarray(lr).astype(np.float32) / 255.0
        preds = np.clip(_nearest(x.astype(np.float64), 3), 0.0, 1.0)
        if channels == 3:  # a colour model's output is scored on its Y, as the reference is
            preds = _yjn870_y(preds * 255.0)[..., None].astype(np.float64)
        target = _yjn870_y(hr).astype(np.float64)[..., None]
        psnr[path.name] = 10. * np.log10(1. / np.mean((target - preds) ** 2))
        ssim[path.name] = _ssim_gaussian(target[..., 0] * 255, preds[..., 0] * 255)
        inputs[path.name] = x
    return psnr, ssim, inputs


# ---- the tests ------------------------------------------------------------------------------------------------

def _check(result, expected, task):
    psnr, ssim, want_inputs = expected
    # the model saw what the script feeds it (grey as grey, or R = G = B, or the protocol's Y)
    seen = task.seen[::len(FRAMEWORKS)]
    assert len(seen) == len(want_inputs)
    for got, (name, want) in zip(seen, sorted(want_inputs.items())):
        assert got.shape == want.shape, (name, got.shape, want.shape)
        np.testing.assert_allclose(got, want, atol=tolerances.OP, err_msg=name)
    for fw in FRAMEWORKS:
        got, got_ssim = result[fw]["per_image"], result[fw]["per_image_ssim"]
        assert got.keys() == psnr.keys()
        for name in psnr:
            assert abs(got[name] - psnr[name]) <= tolerances.METRIC_FLOAT32, (fw, name, got[name], psnr[name])
            assert abs(got_ssim[name] - ssim[name]) <= tolerances.METRIC_FLOAT32, (fw, name, got_ssim[name], ssim[name])
        assert abs(result[fw]["mean_psnr"] - np.mean(list(psnr.values()))) <= tolerances.METRIC_FLOAT32, fw


@pytest.mark.parametrize("channels", [1, 3, None], ids=["grey_model", "colour_model", "any_channels"])
def test_selfexsr_grey_files_compared_on_their_own_values(sets, channels):
    task = StandIn("sr", channels, scale=2)
    result = evaluate(task, sets["selfexsr"], "selfexsr", progress=False)
    expected = _selfexsr_expected(sets["selfexsr"], channels)
    _check(result, expected, task)
    if channels != 3:  # the grey file is not moved to 16..235: R = G = B through rgb2ycbcr would add ~1.3 dB
        hr = _imread_matlab(sets["selfexsr"] / "img_001_SRF_2_HR.png")
        out = np.round(np.clip(_nearest(_imread_matlab(sets["selfexsr"] / "img_001_SRF_2_LR.png")[..., None] / 255., 2),
                               0, 1) * 255)[..., 0]
        as_rgb = _compute_difference(np.stack([out] * 3, -1), np.stack([hr] * 3, -1), 2)[0]
        assert as_rgb - result["jax"]["per_image"]["img_001"] > 1.0


def test_ista_net_reads_every_file_as_rgb(sets):
    task = StandIn("cs", 1)
    result = evaluate(task, sets["ista_net"], "ista_net", progress=False)
    expected = _ista_expected(sets["ista_net"])
    _check(result, expected, task)
    grey = np.asarray(Image.open(sets["ista_net"] / "a_grey.tif"))  # OpenCV's Y of R = G = B = v is v
    np.testing.assert_array_equal(expected[2]["a_grey.tif"][..., 0] * 255.0, grey)


@pytest.mark.parametrize("channels", [1, 3], ids=["grey_model", "colour_model"])
def test_kair_reads_files_for_the_models_channels(sets, channels):
    task = StandIn("denoise", channels)
    result = evaluate(task, sets["kair_dncnn"], "kair_dncnn", sigma=25, progress=False)
    _check(result, _kair_expected(sets["kair_dncnn"], channels, 25), task)


@pytest.mark.parametrize("channels", [1, 3], ids=["grey_model", "colour_model"])
def test_yjn870_applies_its_y_to_grey_files(sets, channels):
    task = StandIn("sr", channels, scale=3)
    result = evaluate(task, sets["yjn870"], "yjn870", progress=False)
    expected = _yjn870_expected(sets["yjn870"], channels)
    _check(result, expected, task)


def test_metrics_take_y_of_each_three_channel_image_on_its_own():
    """psnr / ssim(protocol=...) in jrestore, torch_ref and the float64 reference: a colour output against a grey
    reference is compared as compute_difference.m compares it (Y of the output, the grey as it is); without a
    y_channel (kair_dncnn) mixed channels are an error."""
    import jax.numpy as jnp
    import torch

    from jrestore.metrics import psnr, psnr_reference, ssim, ssim_reference
    from torch_ref.metrics import psnr as torch_psnr, ssim as torch_ssim

    rng = np.random.default_rng(7)
    out_u8, gt_u8 = _colour(rng, 30, 32), _grey(rng, 30, 32)
    want_psnr, want_ssim = _compute_difference(out_u8.astype(np.float64), gt_u8, 3)
    a, b = out_u8.astype(np.float32) / 255.0, gt_u8[..., None].astype(np.float32) / 255.0
    ta, tb = (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))) for x in (a, b))
    for name, got in [("jax", psnr(jnp.asarray(a), jnp.asarray(b), protocol="selfexsr", scale=3)),
                      ("torch", torch_psnr(ta, tb, protocol="selfexsr", scale=3)),
                      ("reference", psnr_reference(a, b, protocol="selfexsr", scale=3)),
                      ("reference swapped", psnr_reference(b, a, protocol="selfexsr", scale=3))]:
        assert abs(float(got) - want_psnr) <= tolerances.METRIC_FLOAT32, (name, float(got), want_psnr)
    for name, got in [("jax", ssim(jnp.asarray(a), jnp.asarray(b), protocol="selfexsr", scale=3)),
                      ("torch", torch_ssim(ta, tb, protocol="selfexsr", scale=3)),
                      ("reference", ssim_reference(a, b, protocol="selfexsr", scale=3))]:
        assert abs(float(got) - want_ssim) <= tolerances.METRIC_FLOAT32, (name, float(got), want_ssim)
    message = r"b: expected the shape of a \(30, 32, 3\), got \(30, 32, 1\)"
    for fn, x, y in [(psnr, jnp.asarray(a), jnp.asarray(b)), (psnr_reference, a, b), (ssim_reference, a, b)]:
        with pytest.raises(ValueError, match=message):
            fn(x, y, protocol="kair_dncnn")
    with pytest.raises(ValueError, match=r"b: expected the shape of a \(3, 30, 32\), got \(1, 30, 32\)"):
        torch_psnr(ta, tb, protocol="kair_dncnn")
    with pytest.raises(ValueError, match="a: y_channel='matlab' needs 1 or 3 channels, got 2"):
        psnr(jnp.zeros((30, 32, 2)), jnp.asarray(b), protocol="selfexsr", scale=3)
