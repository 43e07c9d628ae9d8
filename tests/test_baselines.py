"""The framework-free baselines of `jrestore eval` / `restore`: BM3D through the bm3d package (denoising)."""
import json

import numpy as np
import pytest
from PIL import Image

from jrestore.cli import main as jrestore_main
from jrestore.inference import build_task
from jrestore.parity import tolerances

bm3d = pytest.importorskip("bm3d", reason="the BM3D baseline needs the bm3d package (jrestore[baselines])")

# The DnCNN paper (Zhang et al., TIP 2017), Table II, BM3D at sigma 25 on Set12's 256 x 256 images
PUBLISHED_BM3D_S25 = {"01.png": 29.45, "02.png": 32.85, "03.png": 30.16, "04.png": 28.56, "05.png": 29.25}


def _noisy_camera(sigma: float = 25.0):
    from skimage import data
    clean = data.camera()[96:160, 96:160].astype(np.float64) / 255
    noisy = clean + np.random.default_rng(0).normal(0, sigma / 255, clean.shape)
    return clean, noisy.astype(np.float32)[..., None]


def test_bm3d_task_is_the_package_told_the_noise_level_once_for_both_columns():
    clean, noisy = _noisy_camera()
    task = build_task("bm3d", sigma=25)
    assert (task.kind, task.channels, task.scale) == ("denoise", 1, 1)
    single_threaded = bm3d.BM3DProfile()
    single_threaded.num_threads = 1  # the task's default: with more threads the output follows the schedule
    direct = bm3d.bm3d(noisy[..., 0].astype(np.float64), sigma_psd=25 / 255, profile=single_threaded)
    out_j, out_t = task.restore(noisy, "jax"), task.restore(noisy, "torch")
    assert np.array_equal(out_j[..., 0], direct.astype(np.float32))
    assert np.array_equal(out_j, out_t)  # computed once for both columns

    def psnr(x):
        return 10 * np.log10(1 / np.mean((x.astype(np.float64) - clean) ** 2))
    assert psnr(out_j[..., 0]) > psnr(noisy[..., 0]) + 5  # a denoiser, not the identity


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "--sigma: bm3d needs the noise level"),
    (dict(sigma=25, scale=2), "--scale: bm3d is a denoiser"),
    (dict(sigma=25, model_kwargs={"channels": 2}), "bm3d takes channels=1"),
    (dict(sigma=25, model_kwargs={"nb": 3}), "bm3d takes channels=1"),
    (dict(sigma=25, model_kwargs={"threads": -1}), "threads=N"),
])
def test_bm3d_bad_settings_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_task("bm3d", **kwargs)


def test_bm3d_threads_setting_reaches_the_package(monkeypatch):
    seen = []
    monkeypatch.setattr(bm3d, "bm3d", lambda z, sigma_psd, profile: seen.append(profile.num_threads) or z)
    _, noisy = _noisy_camera()
    build_task("bm3d", sigma=25).restore(noisy, "jax")
    build_task("bm3d", sigma=25, model_kwargs={"threads": 0}).restore(noisy, "jax")
    assert seen == [1, 0]


def test_bm3d_eval_reproduces_the_dncnn_papers_bm3d_row(shared_data, tmp_path, capsys):
    folder = tmp_path / "set12_part"
    folder.mkdir()
    for name in PUBLISHED_BM3D_S25:
        (folder / name).write_bytes((shared_data / "denoise" / "Set12" / name).read_bytes())
    argv = ["eval", "--model", "bm3d", "--data", str(folder), "--protocol", "kair_dncnn", "--sigma", "25", "--json"]
    capsys.readouterr()
    assert jrestore_main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert "neither framework" in report["note"]
    per_image = report["results"]["jax"]["per_image"]
    torch_column = report["results"]["torch"]["per_image"]  # the same images, scored by each framework's PSNR
    assert all(abs(torch_column[n] - p) <= tolerances.PSNR_CROSS_FRAMEWORK_DB for n, p in per_image.items())
    for name, published in PUBLISHED_BM3D_S25.items():
        assert abs(per_image[name] - published) <= tolerances.BM3D_PUBLISHED_IMAGE_DB, (name, per_image[name])


def test_bm3d_restores_a_grey_png(tmp_path):
    clean, noisy = _noisy_camera()
    Image.fromarray(np.clip(noisy[..., 0] * 255, 0, 255).round().astype(np.uint8)).save(tmp_path / "in.png")
    assert jrestore_main(["restore", "--model", "bm3d", "--sigma", "25", str(tmp_path / "in.png"),
                          str(tmp_path / "out.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"), np.float64) / 255
    assert out.shape == clean.shape and np.mean((out - clean) ** 2) < np.mean((noisy[..., 0] - clean) ** 2) / 3
