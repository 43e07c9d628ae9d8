"""jrestore.core.model_file: weights paths (file, WORKDIR, WORKDIR:best) and the safetensors header reader,
checked against safetensors' own reader."""
import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from jrestore.core.model_file import (BEST_FILE, MODEL_FILE, read_metadata, recorded_kwargs, recorded_model,
                                      resolve_model, resolve_weights)


def _model_file(path, model="dncnn", kwargs=None):
    meta = {"model": json.dumps(model), "kwargs": json.dumps(json.dumps(kwargs or {"nb": 3})), "step": "12",
            "note": "not json"}
    save_file({"w": np.zeros((2, 3), np.float32)}, str(path), metadata=meta)
    return path


def test_header_metadata_matches_safetensors_reader(tmp_path):
    path = _model_file(tmp_path / "m.safetensors")
    with safe_open(str(path), framework="np") as f:
        raw = f.metadata()
    meta = read_metadata(path)
    assert set(meta) == set(raw)
    assert meta == {"model": "dncnn", "kwargs": '{"nb": 3}', "step": 12, "note": "not json"}
    assert recorded_model(meta) == "dncnn" and recorded_kwargs(meta) == {"nb": 3}
    assert recorded_kwargs({"kwargs": {"nb": 4}}) == {"nb": 4} and recorded_kwargs({}) == {}
    (tmp_path / "bad.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    with pytest.raises(ValueError, match="--weights: cannot read .*bad.safetensors as safetensors"):
        read_metadata(tmp_path / "bad.safetensors")


def test_workdir_selectors(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _model_file(run / MODEL_FILE)
    _model_file(run / BEST_FILE, kwargs={"nb": 5})
    assert resolve_weights(run)[0] == run / MODEL_FILE
    assert resolve_weights(f"{run}:latest")[0] == run / MODEL_FILE
    file, meta = resolve_weights(f"{run}:best")
    assert file == run / BEST_FILE and recorded_kwargs(meta) == {"nb": 5}
    odd = tmp_path / "x:best"  # a real file whose name ends in ':best' is that file
    odd.write_bytes(b"")
    assert resolve_weights(odd) == (odd, {})
    assert resolve_model(None, run)[:2] == ("dncnn", run / MODEL_FILE)
    assert resolve_model("dncnn", f"{run}:best")[1] == run / BEST_FILE
    with pytest.raises(ValueError, match=r"--model: 'srcnn' differs from the model 'dncnn'"):
        resolve_model("srcnn", run)
    with pytest.raises(ValueError, match=r"--model: the model name is needed: no --weights file records one"):
        resolve_model(None, None)
    with pytest.raises(FileNotFoundError, match="--weights: no such file"):
        resolve_weights(tmp_path / "missing.pth")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"empty is a folder, not a weights file, and holds no model.safetensors"):
        resolve_weights(empty)
