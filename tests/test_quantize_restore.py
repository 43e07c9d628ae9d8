"""Int8 files (`jrestore quantize`) in `jrestore restore` (both frameworks) and `jrestore export` (StableHLO of the
AQT int8 graph), on a tiny DnCNN. References: torch.ao's converted module of the same file (torch_ref.quantize)
and the live AQT int8 model (jrestore.quantize.int8_forward)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import torch_ref.models as tmodels
import torch_ref.quantize as tq
from jrestore import quantize as jq
from jrestore.cli import main
from jrestore.core.quantize import quant_stack, read_int8_file, save_int8_file
from jrestore.parity import tolerances

TINY_DNCNN = dict(nc=8, nb=3, act_mode="R")


@pytest.fixture(scope="module")
def int8_file(tmp_path_factory):
    """A tiny int8 DnCNN (torch.ao PTQ on noisy ramps) and a noisy grey 8-bit image: (file, image path)."""
    tmp = tmp_path_factory.mktemp("int8_restore")
    torch.manual_seed(3)
    net = tmodels.get("dncnn", **TINY_DNCNN).eval()
    rng = np.random.default_rng(4)
    ramp = np.linspace(40, 210, 20)[None, :] + np.linspace(0, 30, 20)[:, None]
    image = np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(tmp / "noisy.png")
    x = torch.from_numpy(image.astype(np.float32) / 255)[None, None]
    _, tensors = tq.ptq(net, quant_stack("dncnn", TINY_DNCNN), [x])
    path = save_int8_file(tmp / "tiny.int8.safetensors", tensors, model="dncnn", kwargs=TINY_DNCNN, method="ptq",
                          framework="torch")
    return path, tmp / "noisy.png"


def test_restore_runs_the_int8_model_in_both_frameworks(int8_file, tmp_path):
    path, noisy = int8_file
    outs = {}
    for fw in ("torch", "jax"):
        out = tmp_path / f"{fw}.png"
        assert main(["restore", "--weights", str(path), "--framework", fw, "--tile", "0", str(noisy), str(out)]) == 0
        outs[fw] = np.asarray(Image.open(out)).astype(np.int32)
    # the reference: torch.ao's converted module of the file on the image, rounded to 8 bits as restore writes
    stack, tensors, _, kwargs = read_int8_file(path)
    x = np.asarray(Image.open(noisy), np.float32) / 255
    with torch.no_grad():
        want = tq.int8_model(stack, tensors, kwargs)(torch.from_numpy(x)[None, None])[0, 0].numpy()
    want8 = np.clip(np.round(want * 255), 0, 255).astype(np.int32)
    assert np.abs(outs["torch"] - want8).max() <= 1  # the writer's rounding of a float32 value on a .5
    # JAX's AQT model of the same file: within the cross-framework int8 levels (in 8-bit units, plus rounding)
    level = 255 * float(tensors[f"{stack.quantised[-1].prefix}.output_scale"][0])
    assert np.abs(outs["jax"] - want8).max() <= tolerances.INT8_CROSS_FRAMEWORK_LEVELS * level + 1
    # an int8 model, not the input passed through: it changed the image
    assert np.abs(outs["torch"] - np.asarray(Image.open(noisy), np.int32)).mean() > 1


def test_restore_refuses_set_with_an_int8_file(int8_file, tmp_path, capsys):
    path, noisy = int8_file
    assert main(["restore", "--weights", str(path), "--set", "nc=4", str(noisy), str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--set" in err


def test_export_writes_the_aqt_int8_graph(int8_file, tmp_path, capsys):
    from jrestore.export import load_exported

    path, _ = int8_file
    out = tmp_path / "export"
    assert main(["export", "--weights", str(path), "--out", str(out), "--shape", "1,16,16,1"]) == 0
    printed = capsys.readouterr().out
    assert "OK: dncnn int8 exported" in printed
    fn, meta = load_exported(out)
    assert meta["inputs"][0]["shape"] == ["b", "h", "w", 1] and meta["int8"]["method"] == "ptq"
    stack, tensors, _, kwargs = read_int8_file(path)
    x = np.random.default_rng(5).random((2, 12, 10, 1), dtype=np.float32)  # another batch and size: symbolic
    np.testing.assert_array_equal(np.asarray(fn(x)), np.asarray(jq.int8_forward(stack, tensors, kwargs)(x)))
    # the weights travel as int8: params.safetensors is smaller than the float32 kernels would be
    kernels = sum(tensors[f"{layer.prefix}.weight"].size for layer in stack.quantised)
    assert (out / "params.safetensors").stat().st_size < 4 * kernels
    assert json.loads((out / "meta.json").read_text())["model"] == "dncnn"
    # ONNX of an int8 file: one clear refusal
    assert main(["export", "--weights", str(path), "--out", str(tmp_path / "e2"), "--onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--onnx" in err and "int8" in err
