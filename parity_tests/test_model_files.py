"""Model files across the frameworks (issue 14, item 1): what `save_model_file` writes is the torch_ref
state dict (keys, dtypes, scalar int64 counters); `jrestore.load` gives exactly the model written and
`torch_ref.load` its twin (tolerances.MODEL), also with JAX unimportable; convert, export and verify (which
run torch_ref) take a training workdir without --model.

The workdir is built as the trainer leaves one: WORKDIR/model.safetensors and WORKDIR/best.safetensors written
by save_model_file with different weights (so picking the wrong one shows), plus a checkpoints/<step> folder.
The command-line side without torch_ref is tests/test_model_files.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jrestore
import jrestore.models
import torch_ref
import torch_ref.models
from jrestore.cli import main
from jrestore.convert.checkpoints import read_safetensors_metadata, save_model_file
from jrestore.parity import tolerances

ROOT = Path(__file__).resolve().parents[1]
DNCNN = {"in_nc": 1, "out_nc": 1, "nc": 8, "nb": 3, "act_mode": "BR"}  # conftest.MODEL_FILES_DNCNN: the workdir's


@pytest.fixture(scope="module")
def workdir(model_files_workdir):
    return model_files_workdir


def _x(shape=(1, 20, 23, 1), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _torch_out(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)


def test_model_file_round_trips_with_metadata_and_torch_dtypes(workdir):
    d, latest, _ = workdir
    meta = read_safetensors_metadata(d / "model.safetensors")
    assert meta["model"] == "dncnn" and json.loads(meta["kwargs"]) == DNCNN
    assert (meta["recipe"], meta["step"], meta["val_psnr"], meta["format"]) == \
        ("dncnn_s25", 40, 27.5, "jrestore-torch-layout-v1")
    from safetensors.torch import load_file
    state = load_file(str(d / "model.safetensors"))
    twin = torch_ref.models.get("dncnn", **DNCNN)
    reference = twin.state_dict()
    assert sorted(state) == sorted(reference)
    assert all(state[k].dtype == reference[k].dtype and state[k].shape == reference[k].shape for k in reference)
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    assert counters and all(state[k].dtype == torch.int64 and state[k].shape == () for k in counters)
    twin.load_state_dict(state, strict=True)
    x = _x()
    want = np.asarray(latest(jnp.asarray(x)))
    # jrestore.load gives exactly the model that was written; torch_ref.load the twin, within MODEL
    np.testing.assert_array_equal(np.asarray(jrestore.load(d)(jnp.asarray(x))), want)
    got = _torch_out(torch_ref.load(d), x)
    assert np.abs(got - want).max() <= tolerances.MODEL * max(1.0, float(np.abs(want).max()))
    assert np.abs(want).max() > 0.1  # not a vacuous all-zero output


def test_arrays_in_kwargs_are_named_not_recorded(tmp_path):
    """ISTA-Net+'s Phi comes from a .mat file: the file names it as not recorded, and loading passes it again."""
    phi = np.random.default_rng(0).standard_normal((272, 1089)).astype(np.float32)
    kwargs = {"cs_ratio": 25, "num_phases": np.int64(2), "phi": phi}
    model = jrestore.models.get("ista_net_plus", **kwargs)
    save_model_file(tmp_path / "m.safetensors", model, "ista_net_plus", kwargs)
    meta = read_safetensors_metadata(tmp_path / "m.safetensors")
    assert json.loads(meta["kwargs"]) == {"cs_ratio": 25, "num_phases": 2} and meta["kwargs_not_recorded"] == ["phi"]
    again = jrestore.load(tmp_path / "m.safetensors", phi=phi)
    np.testing.assert_array_equal(np.asarray(again.phi[...]), phi)
    twin = torch_ref.load(tmp_path / "m.safetensors", phi=phi)
    assert len(twin.state_dict()) == len(torch_ref.models.get("ista_net_plus", **kwargs).state_dict())


def test_load_picks_latest_or_best_and_takes_overrides(workdir):
    d, latest, best = workdir
    x = _x(seed=1)
    for where, model in ((str(d), latest), (f"{d}:latest", latest), (f"{d}:best", best),
                         (d / "best.safetensors", best)):
        np.testing.assert_array_equal(np.asarray(jrestore.load(where)(jnp.asarray(x))),
                                      np.asarray(model(jnp.asarray(x))))
        assert torch_ref.load(where).training is False
    # a .pth has no metadata: the name is passed, and must be
    twin = torch_ref.load(d)
    pth = d.parent / "plain.pth"
    torch.save(twin.state_dict(), pth)
    np.testing.assert_array_equal(np.asarray(jrestore.load(pth, model="dncnn")(jnp.asarray(x))),
                                  np.asarray(latest(jnp.asarray(x))))
    assert torch_ref.load(pth, model="dncnn").model[0].weight.shape == (8, 1, 3, 3)
    with pytest.raises(ValueError, match=r"model: the model name is needed: .*plain.pth does not record one"):
        jrestore.load(pth)
    with pytest.raises(ValueError, match=r"model: 'fsrcnn' differs from the model 'dncnn' that .*records"):
        torch_ref.load(d, model="fsrcnn")
    with pytest.raises(ValueError, match=r"model.safetensors does not fit DnCNN: missing 7 key"):  # override vs weights
        jrestore.load(d, nb=4)


def test_torch_ref_load_runs_without_jax(workdir):
    d, latest, _ = workdir
    x = _x(seed=2)
    want = np.asarray(latest(jnp.asarray(x)))
    np.save(d.parent / "x.npy", x)
    code = f"""
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {{"jax", "jaxlib", "flax", "optax"}}:
            raise ImportError(name + " is blocked in this test")
sys.meta_path.insert(0, _Block())
import numpy as np, torch, torch_ref
model = torch_ref.load({str(d) + ':latest'!r})
x = np.load({str(d.parent / 'x.npy')!r})
with torch.no_grad():
    y = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
np.save({str(d.parent / 'y.npy')!r}, y)
print("FRAMEWORKS", sorted({{m.split(".")[0] for m in sys.modules}} & {{"jax", "jaxlib", "flax", "optax"}}))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FRAMEWORKS []" in proc.stdout
    got = np.load(d.parent / "y.npy")
    assert np.abs(got - want).max() <= tolerances.MODEL * max(1.0, float(np.abs(want).max()))


def test_convert_export_verify_take_a_workdir_without_model(tmp_path, capsys, workdir):
    d, _, best = workdir
    out = tmp_path / "best.safetensors"
    assert main(["convert", "--weights", f"{d}:best", "--out", str(out)]) == 0
    assert "model       dncnn" in capsys.readouterr().out
    meta = read_safetensors_metadata(out)
    assert meta["model"] == "dncnn" and json.loads(meta["kwargs"]) == {**DNCNN, "variant": "plain"} \
        and meta["source"] == "best.safetensors"
    x = _x(seed=3)
    np.testing.assert_array_equal(np.asarray(jrestore.load(out)(jnp.asarray(x))), np.asarray(best(jnp.asarray(x))))
    assert main(["export", "--weights", str(d), "--out", str(tmp_path / "exp"), "--shape", "1,16,16,1"]) == 0
    assert "OK: dncnn exported" in capsys.readouterr().out
    assert main(["verify", "--weights", str(d), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "dncnn" and summary["ok"] and summary["kwargs"]["nc"] == 8
