"""A run is a model, on the command line (issue 14, item 1): restore and eval take a training workdir
(WORKDIR, WORKDIR:best) without --model, a recorded SR factor needs no --scale, and a workdir without a
model file, a missing model name or two different ones are one line each. References are the jrestore
models the files were written from; the cross-framework side is parity_tests/test_model_files.py."""
from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from PIL import Image

import jrestore
from jrestore.cli import main
from jrestore.convert.checkpoints import save_model_file
from jrestore.parity import tolerances

DNCNN = {"in_nc": 1, "out_nc": 1, "nc": 8, "nb": 3, "act_mode": "BR"}  # conftest.MODEL_FILES_DNCNN: the workdir's


@pytest.fixture(scope="module")
def workdir(model_files_workdir):
    return model_files_workdir


def test_workdirs_without_model_files_say_what_to_do(tmp_path, workdir):
    orbax_only = tmp_path / "w"
    (orbax_only / "checkpoints" / "100").mkdir(parents=True)
    (orbax_only / "checkpoints" / "200").mkdir()
    with pytest.raises(ValueError, match=r"orbax checkpoints \(steps 100, 200\) but no model.safetensors"):
        jrestore.load(orbax_only)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    save_model_file(fresh / "model.safetensors", workdir[1], "dncnn", DNCNN)
    with pytest.raises(ValueError, match=r"holds no best.safetensors: no validation has run yet"):
        jrestore.load(f"{fresh}:best")
    with pytest.raises(ValueError, match=r"':best' picks a file of a training workdir"):
        jrestore.load(f"{fresh / 'model.safetensors'}:best")


def test_restore_and_eval_take_a_workdir_without_model(tmp_path, capsys, workdir):
    d, latest, best = workdir
    img = tmp_path / "in.png"
    grey = np.random.default_rng(4).integers(0, 256, (20, 23), dtype=np.uint8)
    Image.fromarray(grey).save(img)
    for weights, model in ((str(d), latest), (f"{d}:best", best)):
        out = tmp_path / f"out_{model is best}.png"
        assert main(["restore", "--weights", weights, str(img), str(out)]) == 0, capsys.readouterr().err
        want = np.round(np.clip(np.asarray(model(jnp.asarray(grey[None, :, :, None] / 255.0, jnp.float32)))[0, ..., 0],
                                0, 1) * 255)
        assert np.abs(np.asarray(Image.open(out)).astype(int) - want).max() <= tolerances.IMAGE_LEVELS
    capsys.readouterr()
    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(grey).save(data / "a.png")
    assert main(["eval", "--weights", str(d), "--data", str(data), "--protocol", "kair_dncnn", "--sigma", "25",
                 "--framework", "jax", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "dncnn" and summary["weights"] == str(d / "model.safetensors")
    # both given and different: one line naming both
    assert main(["restore", "--model", "fsrcnn", "--weights", str(d), str(img), str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--model: 'fsrcnn' differs from the model 'dncnn'" in err[0] and "--weights" in err[0]
    # neither gives it: one line
    pth = tmp_path / "plain.pth"
    from safetensors.torch import load_file
    torch.save(load_file(str(d / "model.safetensors")), pth)  # the same weights as a .pth, which names no model
    assert main(["restore", "--weights", str(pth), str(img), str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--model: the model name is needed" in err[0] and "pass --model NAME" in err[0], err
    assert not (tmp_path / "x.png").exists()


def test_recorded_scale_needs_no_flags(tmp_path, capsys, perturbed_jax_model):
    """FSRCNN's factor is in no tensor: the workdir's metadata gives it, so restore needs neither flag."""
    d = tmp_path / "run"
    d.mkdir()
    kwargs = {"scale_factor": 3, "d": 8, "s": 4, "m": 2}
    save_model_file(d / "model.safetensors", perturbed_jax_model("fsrcnn", kwargs, 5), "fsrcnn", kwargs)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (10, 12), dtype=np.uint8)).save(tmp_path / "lr.png")
    assert main(["restore", "--weights", str(d), str(tmp_path / "lr.png"), str(tmp_path / "sr.png")]) == 0
    assert np.asarray(Image.open(tmp_path / "sr.png")).shape == (30, 36)
