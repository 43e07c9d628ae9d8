"""`jrestore eval --save-images DIR --out FILE`: what a paper's test script saves. The saved PNGs are checked
against the torch_ref twin run directly on the protocol's noisy inputs (exactly for the torch column) and
against the reported PSNR (recomputed in float64 from the files alone: the kair_dncnn protocol rounds to
uint8 before scoring); the CSV / JSON rows against the --json output."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

import torch_ref.models as tmodels
from jrestore.cli import main
from jrestore.parity import tolerances

DNCNN = dict(nc=8, nb=3, act_mode="R")
NAMES = ["a.png", "b.png", "c.bmp"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    torch.manual_seed(0)
    sd = tmodels.get("dncnn", **DNCNN).state_dict()
    gen = torch.Generator().manual_seed(2)
    torch.save({k: v + 0.03 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
                for k, v in sd.items()}, d / "dncnn.pth")
    return d / "dncnn.pth", _data(d)


def _twin(weights):
    model = tmodels.get("dncnn", **DNCNN)
    model.load_state_dict(torch.load(weights, weights_only=True))
    return model.eval()


def _data(d):
    data = d / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(NAMES):
        ramp = np.linspace(30, 220, 26)[None, :] + np.linspace(0, 20, 22)[:, None]
        Image.fromarray(np.clip(ramp + rng.normal(0, 5, ramp.shape) + 7 * i, 0, 255).astype(np.uint8)).save(data / name)
    return data


def _psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def test_eval_saves_images_and_rows_that_agree_with_its_scores(tmp_path, capsys, setup):
    weights, data = setup
    common = ["eval", "--model", "dncnn", "--weights", str(weights), "--data", str(data), "--protocol",
              "kair_dncnn", "--sigma", "25"]
    assert main(common + ["--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    images = tmp_path / "restored"
    assert main(common + ["--save-images", str(images), "--out", str(tmp_path / "scores.csv")]) == 0
    out = capsys.readouterr().out
    assert f"wrote restored images to {images}" in out
    # one folder per framework, inputs' names as PNG, 8-bit grey like the inputs
    for fw in ("jax", "torch"):
        assert sorted(p.name for p in (images / fw).iterdir()) == ["a.png", "b.png", "c.png"]
        for name in NAMES:
            saved = np.asarray(Image.open(images / fw / (name.split(".")[0] + ".png")))
            clean = np.asarray(Image.open(data / name))
            assert saved.dtype == np.uint8 and saved.shape == clean.shape
            # the file is what was scored: its PSNR against the clean image is the reported one (the reported
            # one is computed in float32, hence the cross-framework PSNR tolerance)
            want = summary["results"][fw]["per_image"][name]
            assert abs(_psnr_uint8(saved, clean) - want) <= tolerances.PSNR_CROSS_FRAMEWORK_DB
    # and it is the network's output on the protocol's noisy input: torch exactly, jax within one level
    from jrestore.evaluation.protocol_data import load_samples
    twin = _twin(weights)
    for sample in load_samples(data, "kair_dncnn", kind="denoise", channels=1, sigma=25):
        with torch.no_grad():
            y = twin(torch.from_numpy(sample.inputs[None, :, :, 0][:, None].copy()))[0, 0].numpy()
        want = np.round(np.clip(y, 0, 1) * 255).astype(np.uint8)
        stem = sample.name.split(".")[0]
        np.testing.assert_array_equal(np.asarray(Image.open(images / "torch" / f"{stem}.png")), want)
        jax_saved = np.asarray(Image.open(images / "jax" / f"{stem}.png")).astype(int)
        assert np.abs(jax_saved - want).max() <= tolerances.IMAGE_LEVELS
        assert np.mean(jax_saved == want) >= tolerances.IMAGE_LEVELS_EQUAL_FRACTION
    with open(tmp_path / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["name", "psnr_jax", "ssim_jax", "psnr_torch", "ssim_torch"]
    assert [r["name"] for r in rows] == NAMES + ["mean"]
    for r in rows:
        for fw in ("jax", "torch"):
            res = summary["results"][fw]
            psnr = res["mean_psnr"] if r["name"] == "mean" else res["per_image"][r["name"]]
            ssim = res["mean_ssim"] if r["name"] == "mean" else res["per_image_ssim"][r["name"]]
            assert float(r[f"psnr_{fw}"]) == psnr and float(r[f"ssim_{fw}"]) == ssim  # repr: every digit
    mean = np.mean([float(r["psnr_jax"]) for r in rows[:-1]])
    assert abs(float(rows[-1]["psnr_jax"]) - mean) <= tolerances.FLOAT64 * mean


def test_eval_json_rows_one_framework_and_refusals(tmp_path, capsys, setup):
    weights, data = setup
    common = ["eval", "--model", "dncnn", "--weights", str(weights), "--data", str(data), "--protocol",
              "kair_dncnn", "--sigma", "25", "--framework", "jax"]
    images = tmp_path / "img"
    assert main(common + ["--save-images", str(images), "--out", str(tmp_path / "s.json")]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in images.iterdir()) == ["a.png", "b.png", "c.png"]  # one framework: no subfolder
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["model"] == "dncnn" and saved["settings"]["sigma"] == 25
    assert saved["columns"] == ["name", "psnr_jax", "ssim_jax"] and [r["name"] for r in saved["rows"]][-1] == "mean"
    # again without --overwrite: refused before any work, one line each
    for extra, needle in ((["--out", str(tmp_path / "s.json")], "--out: "), (["--save-images", str(images)],
                                                                           "is not empty; pass --overwrite"),
                          (["--out", str(tmp_path / "s.txt")], "expected a .csv or .json")):
        assert main(common + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert main(common + ["--overwrite", "--save-images", str(images), "--out", str(tmp_path / "s.json")]) == 0
