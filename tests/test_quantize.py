"""INT8 (`jrestore quantize`): the int8 file round trip, PTQ and QAT in each framework on tiny models, the command
line with eval, and PTQ of the official DnCNN. The cross-framework proofs (JAX calibration against PyTorch's
observers, JAX-int8 against torch-int8 on the same file) are in parity_tests/test_quantize_parity.py.

The independent references: PyTorch's converted module for the file's integers and the float model for the
accuracy.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import jrestore
import torch_ref
import torch_ref.quantize as tq
from jrestore import quantize as jq
from jrestore.cli import main
from jrestore.core.quantize import INT8_FORMAT, quant_stack, read_int8_file, save_int8_file
from jrestore.parity import tolerances
from parity_tests._quantize_data import DNCNN, dncnn_ptq, images, nchw, weights_file  # noqa: F401 (fixture)


def test_int8_file_round_trip_runs_the_same_integers(dncnn_ptq):
    tmp, _, _, stack, noisy, qnet, tensors = dncnn_ptq
    path = save_int8_file(tmp / "m.safetensors", tensors, model="dncnn", kwargs=DNCNN, method="ptq",
                          framework="torch", calibration={"images": 3})
    stack2, back, meta, kwargs = read_int8_file(path)
    assert stack2 == stack and kwargs == DNCNN and meta["format"] == INT8_FORMAT and meta["method"] == "ptq"
    assert meta["calibration"] == {"images": 3}
    assert set(back) == set(tensors)
    for key, value in tensors.items():
        assert back[key].dtype == value.dtype and np.array_equal(back[key], value), key
    assert back["model.2.weight"].dtype == np.int8 and back["model.2.weight_scale"].shape == (DNCNN["nc"],)
    # the file, rebuilt as a converted torch module, gives the PTQ module's output exactly
    with torch.no_grad():
        assert torch.equal(tq.int8_model(stack, back, kwargs)(nchw(noisy)), qnet(nchw(noisy)))
    # the convolution weights are stored as one byte each (the float32 model: four)
    assert all(back[f"{layer.prefix}.weight"].nbytes == back[f"{layer.prefix}.weight"].size for layer in stack.quantised)


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_qat_fine_tunes_and_writes_a_complete_int8_model(tmp_path, framework):
    weights = weights_file(tmp_path, "dncnn", DNCNN, seed=5)
    stack = quant_stack("dncnn", DNCNN)
    clean = images(6, n=4, size=16)
    rng = np.random.default_rng(7)

    def pairs():
        while True:
            yield clean + 25 / 255 * rng.standard_normal(clean.shape).astype(np.float32), clean
    losses = []
    if framework == "torch":
        net = torch_ref.load(weights, model="dncnn", **DNCNN)
        torch_pairs = ((nchw(x), nchw(t)) for x, t in pairs())
        _, tensors = tq.qat(net, stack, torch_pairs, steps=3, lr=1e-3, on_step=lambda s, v: losses.append(v))
    else:
        jm = jrestore.load(weights, model="dncnn", **DNCNN)
        before = np.asarray(jm.model[0].weight[...]).copy()
        tensors = jq.qat(jm, stack, DNCNN, [next(pairs())[0]], pairs(), steps=3, lr=1e-3,
                         on_step=lambda s, v: losses.append(v))
        # AQT's dot_general passes straight-through gradients: the weights moved
        assert np.abs(np.asarray(jm.model[0].weight[...]) - before).max() > 0
    assert len(losses) == 3 and all(np.isfinite(losses))
    path = save_int8_file(tmp_path / "qat.safetensors", tensors, model="dncnn", kwargs=DNCNN, method="qat",
                          framework=framework)
    assert read_int8_file(path)[2]["method"] == "qat"


def _folder(path, n=3, size=32):
    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        ramp = np.linspace(30, 220, size)[None, :] + np.linspace(0, 25, size)[:, None] + 5 * i
        Image.fromarray(np.clip(ramp + rng.normal(0, 6, ramp.shape), 0, 255).astype(np.uint8)).save(path / f"{i}.png")
    return path


def test_cli_quantize_then_eval_reports_float_beside_int8(tmp_path, capsys):
    weights = weights_file(tmp_path, "dncnn", DNCNN, seed=8)
    data = _folder(tmp_path / "data")
    out = tmp_path / "int8.safetensors"
    assert main(["quantize", "--model", "dncnn", "--weights", str(weights), "--set", "act_mode='R'", "--set",
                 "nc=8", "--method", "ptq", "--calib", str(data), "--protocol", "kair_dncnn", "--sigma", "25",
                 "--patch", "24", "--out", str(out), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["psnr"]["jax"]["drop"] == pytest.approx(report["psnr"]["jax"]["float"] - report["psnr"]["jax"]["int8"])
    assert main(["eval", "--weights", str(out), "--data", str(data), "--protocol", "kair_dncnn", "--sigma", "25",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "dncnn" and summary["int8"]["float_from"] == "re-scored"
    for fw in ("jax", "torch"):
        row = summary["int8"][fw]
        assert row["int8"] == summary["results"][fw]["mean_psnr"]
        assert row["float"] == pytest.approx(report["psnr"][fw]["float"], abs=tolerances.PSNR_CROSS_FRAMEWORK_DB)
        assert row["int8"] == pytest.approx(report["psnr"][fw]["int8"], abs=tolerances.PSNR_CROSS_FRAMEWORK_DB)
        assert abs(row["drop"]) < 1.0  # an int8 model of a (random) DnCNN: close to its float model
    assert abs(summary["int8"]["jax"]["int8"] - summary["int8"]["torch"]["int8"]) < tolerances.INT8_PSNR_CROSS_FRAMEWORK_DB
    # an int8 file cannot take --set, and quantize refuses models it does not support: one line each
    assert main(["eval", "--weights", str(out), "--data", str(data), "--protocol", "kair_dncnn", "--sigma", "25",
                 "--set", "nc=4"]) == 2
    assert "--set" in capsys.readouterr().err


@pytest.mark.data
def test_jax_ptq_of_official_dncnn_stays_close_to_float_on_set12(shared_data, tmp_path, capsys):
    weights = shared_data / "denoise" / "weights" / "dncnn_25.pth"
    set12 = tmp_path / "set12"
    set12.mkdir()
    # two 128x128 quarters of Set12's first two images: the official 17-layer network in both frameworks,
    # float and int8, stays affordable (the full set's drop is in the README)
    for name in sorted(p.name for p in (shared_data / "denoise" / "Set12").iterdir())[:2]:
        with Image.open(shared_data / "denoise" / "Set12" / name) as image:
            image.crop((64, 64, 192, 192)).save(set12 / name)
    out = tmp_path / "dncnn_int8.safetensors"
    assert main(["quantize", "--model", "dncnn", "--weights", str(weights), "--method", "ptq", "--calib", str(set12),
                 "--protocol", "kair_dncnn", "--sigma", "25", "--crops", "2", "--framework", "jax", "--out", str(out), "--data", str(set12),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for fw in ("jax", "torch"):
        assert 0 < report["psnr"][fw]["drop"] < tolerances.INT8_PTQ_DNCNN_DROP_DB
    assert report["bytes"]["int8_file"] < 0.3 * report["bytes"]["float32"]


def test_cli_sensitivity_rows_are_the_float_layers_files(tmp_path, capsys):
    """--sensitivity's row for model.4 (only it int8) scores what a file written with every other layer in
    --float-layers scores (same calibration), and `eval` runs that file in both frameworks."""
    weights = weights_file(tmp_path, "dncnn", DNCNN, seed=9)
    data = _folder(tmp_path / "data", n=2, size=24)
    common = ["--model", "dncnn", "--weights", str(weights), "--set", "act_mode='R'", "--set", "nc=8", "--set", "nb=4",
              "--method", "ptq", "--calib", str(data), "--protocol", "kair_dncnn", "--sigma", "25", "--patch", "24",
              "--data", str(data), "--json"]
    assert main(["quantize", *common, "--sensitivity", "--out", str(tmp_path / "sens.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / "sens.json").read_text()) == report
    rows = {row["name"]: row for row in report["rows"]}
    assert [row["kind"] for row in report["rows"]] == ["float", "all", "weights", "activations"] + ["layer"] * 4
    assert list(rows)[4:] == ["model.0", "model.2", "model.4", "model.6"]
    assert rows["float"]["drop"] == 0 and rows["activations only"]["framework"] == "jax"
    assert all(row["framework"] == "torch" for name, row in rows.items() if name != "activations only")
    # a random 4-layer DnCNN: quantising all of it loses PSNR; one layer or one kind alone stays close to float
    assert 0 < rows["int8 (all layers)"]["drop"] < 1.0
    assert all(abs(row["drop"]) < 1.0 for row in report["rows"])
    out = tmp_path / "model4.safetensors"
    assert main(["quantize", *common, "--float-layers", "model.0,model.2,model.6", "--out", str(out)]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["float_layers"] == ["model.0", "model.2", "model.6"]
    assert written["psnr"]["torch"]["int8"] == pytest.approx(rows["model.4"]["psnr"], abs=1e-9)
    stack, tensors, meta, _ = read_int8_file(out)
    assert meta["float_layers"] == ["model.0", "model.2", "model.6"] == list(stack.float_layers)
    assert tensors["model.0.weight"].dtype == np.float32 and tensors["model.4.weight"].dtype == np.int8
    assert main(["eval", "--weights", str(out), "--data", str(data), "--protocol", "kair_dncnn", "--sigma", "25",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for fw in ("jax", "torch"):
        assert summary["int8"][fw]["int8"] == pytest.approx(written["psnr"][fw]["int8"], abs=1e-9)
    assert abs(summary["int8"]["jax"]["int8"] - summary["int8"]["torch"]["int8"]) < tolerances.INT8_PSNR_CROSS_FRAMEWORK_DB


def test_cli_jax_qat_takes_the_observer_and_float_layers(tmp_path, capsys):
    """`--method qat --framework jax` with --observer percentile and --float-layers: the file records both, holds
    the float layer in float32 and no parameters for the input, which only that float layer reads (the
    ranges themselves: tests/test_quantize_qat.py)."""
    weights = weights_file(tmp_path, "dncnn", DNCNN, seed=10)
    data = _folder(tmp_path / "data", n=1, size=24)
    out = tmp_path / "qat.safetensors"
    assert main(["quantize", "--model", "dncnn", "--weights", str(weights), "--set", "act_mode='R'", "--set", "nc=8",
                 "--set", "nb=4", "--method", "qat", "--framework", "jax", "--steps", "2", "--batch", "2",
                 "--patch", "16", "--calib", str(data), "--protocol", "kair_dncnn", "--sigma", "25",
                 "--observer", "percentile", "--percentile", "99.9", "--float-layers", "model.0",
                 "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["float_layers"] == ["model.0"] and report["calibration"]["observer"] == "percentile"
    assert "then frozen" in report["calibration"]["qat_ranges"]
    stack, tensors, meta, _ = read_int8_file(out)
    assert list(stack.float_layers) == ["model.0"] and meta["calibration"]["percentile"] == 99.9
    assert tensors["model.0.weight"].dtype == np.float32 and tensors["model.2.weight"].dtype == np.int8
    assert "input.scale" not in tensors and "model.0.output_scale" in tensors


def test_cli_quantize_refuses_unknown_layers_and_observers_in_one_line(tmp_path, capsys):
    weights = weights_file(tmp_path, "dncnn", DNCNN, seed=8)
    data = _folder(tmp_path / "data", n=1, size=24)
    base = ["quantize", "--model", "dncnn", "--weights", str(weights), "--set", "act_mode='R'", "--set", "nc=8",
            "--method", "ptq", "--calib", str(data), "--protocol", "kair_dncnn", "--sigma", "25",
            "--out", str(tmp_path / "x.safetensors")]
    for extra, words in ((["--float-layers", "model.0,model.3"], ["--float-layers", "'model.3'", "model.0"]),
                         (["--observer", "entropy"], ["--observer", "'entropy'", "percentile"]),
                         (["--observer", "histogram", "--framework", "jax"], ["--observer", "--framework torch"])):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not (tmp_path / "x.safetensors").exists()
