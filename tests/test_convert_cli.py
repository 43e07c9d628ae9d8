"""`jrestore convert` end to end, in-process: real and MatConvNet weights, and one-line errors (exit 2)."""
import os

import numpy as np
import pytest
import torch

from _matlab_v73 import dncnn_simplenn_layers, write_mat_v73
from jrestore.cli import main
from jrestore.convert.checkpoints import load_state_dict_file, read_safetensors_metadata


class Payload:
    """A custom class: its pickle needs code, so weights_only=True refuses it."""


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def _outputs(state, nb, x):
    """(jrestore output, torch_ref output) of DnCNN(act_mode='R', nb) loaded from `state`, for NHWC x."""
    import jax.numpy as jnp
    import jrestore.models
    import torch_ref.models
    from jrestore.convert import load_torch_state_dict

    jm = load_torch_state_dict(jrestore.models.get("dncnn", nb=nb, act_mode="R"), state)
    tm = torch_ref.models.get("dncnn", nb=nb, act_mode="R").eval()
    tm.load_state_dict(state)
    with torch.no_grad():
        t = tm(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    return np.asarray(jm(jnp.asarray(x))), t


def test_official_dncnn_pth_to_safetensors(shared_data, tmp_path, capsys):
    pth = shared_data / "denoise" / "weights" / "dncnn_25.pth"
    out = tmp_path / "dncnn_25.safetensors"
    assert main(["convert", "--model", "dncnn", "--weights", str(pth), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "'nb': 17" in printed and "'act_mode': 'R'" in printed and "keys        34" in printed
    meta = read_safetensors_metadata(out)
    assert meta["model"] == "dncnn" and meta["source"] == "dncnn_25.pth" and meta["format"] == "jrestore-torch-layout-v1"
    assert meta["kwargs"] == '{"act_mode": "R", "in_nc": 1, "nb": 17, "nc": 64, "out_nc": 1, "variant": "plain"}'
    original = torch.load(pth, weights_only=True, map_location="cpu")
    converted = load_state_dict_file(out)
    assert sorted(converted) == sorted(original)  # safetensors keeps its own (sorted) key order
    x = np.random.default_rng(3).uniform(0, 1, (1, 20, 18, 1)).astype(np.float32)
    for a, b in zip(_outputs(original, 17, x), _outputs(converted, 17, x)):
        assert np.array_equal(a, b)  # bit-identical in each framework


def test_synthetic_matconvnet_file_converts(tmp_path, capsys):
    import torch_ref.models
    torch.manual_seed(0)
    sd = torch_ref.models.get("dncnn", nb=4, nc=8, act_mode="R").state_dict()
    mat = tmp_path / "sigma=25.mat"
    write_mat_v73(mat, {"net": {"layers": dncnn_simplenn_layers({k: v.numpy() for k, v in sd.items()})}})
    out = tmp_path / "from_mat.safetensors"
    assert main(["convert", "--model", "dncnn", "--weights", str(mat), "--out", str(out)]) == 0
    assert "'nb': 4" in capsys.readouterr().out
    converted = load_state_dict_file(out)
    assert all(torch.equal(converted[k], v) for k, v in sd.items()) and len(converted) == len(sd)
    assert read_safetensors_metadata(out)["source"] == "sigma=25.mat"


@pytest.mark.parametrize("name, kwargs", [("dncnn", {"nb": 3, "nc": 4, "act_mode": "BR"})])
def test_batchnorm_models_keep_torch_dtypes_and_scalar_counters(tmp_path, capsys, name, kwargs):
    import torch_ref.models
    torch.manual_seed(0)
    sd = torch_ref.models.get(name, **kwargs).state_dict()
    src, out = tmp_path / "bn.pth", tmp_path / "bn.safetensors"
    torch.save(sd, src)
    assert main(["convert", "--model", name, "--weights", str(src), "--out", str(out)]) == 0
    converted = load_state_dict_file(out)
    assert sorted(converted) == sorted(sd)
    for key, value in sd.items():
        assert converted[key].dtype == value.dtype and converted[key].shape == value.shape and torch.equal(converted[key], value)


def test_bad_inputs_exit_2_with_one_line_naming_the_file(tmp_path, capsys):
    import torch_ref.models
    torch.manual_seed(0)
    good = tmp_path / "dncnn_small.pth"
    torch.save(torch_ref.models.get("dncnn", nb=3, nc=8, act_mode="R").state_dict(), good)
    out = tmp_path / "out.safetensors"

    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(good.read_bytes()[:300])
    assert main(["convert", "--model", "dncnn", "--weights", str(corrupt), "--out", str(out)]) == 2
    _one_error_line(capsys, "corrupt.pth")

    evil = tmp_path / "evil.pth"
    torch.save({"model.0.weight": Payload()}, evil)
    assert main(["convert", "--model", "dncnn", "--weights", str(evil), "--out", str(out)]) == 2
    _one_error_line(capsys, "evil.pth", "arbitrary code")

    assert main(["convert", "--model", "espcn", "--weights", str(good), "--out", str(out)]) == 2
    _one_error_line(capsys, "dncnn_small.pth", "does not fit ESPCN", "first_part.0.bias", "(64,)", "model.0.weight",
                    "(8, 1, 3, 3)")

    assert main(["convert", "--model", "dncnn", "--weights", str(good), "--out", str(out), "--set", "nc=16"]) == 2
    _one_error_line(capsys, "dncnn_small.pth", "key 'model.0.bias' has shape (8,)", "expects (16,)")
    assert not out.exists()

    assert main(["convert", "--model", "dncnn", "--weights", str(good), "--out", str(out)]) == 0
    capsys.readouterr()
    stamp = out.stat().st_mtime_ns
    assert main(["convert", "--model", "dncnn", "--weights", str(good), "--out", str(out)]) == 2
    _one_error_line(capsys, "out.safetensors", "--overwrite")
    assert out.stat().st_mtime_ns == stamp
    assert main(["convert", "--model", "dncnn", "--weights", str(good), "--out", str(out), "--overwrite"]) == 0
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".tmp") or p.startswith(".")) == []
