"""`jrestore quantize` options of the FSRCNN recipe: --activation-bits 8 (recorded in the file, 7 when absent; the
sum check on the file's integers that keeps AQT's float32 accumulation exact), --equalize ALPHA (exact in float, the same
weights from both frameworks), and the CLI writing an 8-bit equalised QAT file with a cosine schedule and the
teacher target. The 8-bit file's JAX / torch parity and the QAT options' JAX / torch parity are in
parity_tests/test_quantize_parity.py and parity_tests/test_quantize_qat_parity.py.

The independent references: the float model's own output (equalisation must not change it), the closed form
of equalisation at alpha 1 (every middle channel's range becomes the widest one's), and the 2^24 bound computed
by hand for the layers named.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

import jrestore
import torch_ref
import torch_ref.quantize as tq
from jrestore import quantize as jq
from jrestore.cli import main
from jrestore.core.quantize import (equalize_activations, quant_stack, read_int8_file, save_int8_file)
from jrestore.parity import tolerances
from parity_tests._quantize_data import FSRCNN, images, nchw, weights_file

DNCNN_WIDE = dict(nc=64, nb=3, act_mode="R")  # 3x3x64 taps into model.2: the layer 8-bit activations overflow


def _fsrcnn(tmp_path, seed=5):
    path = weights_file(tmp_path, "fsrcnn", FSRCNN, seed=seed)
    return path, torch_ref.load(path, model="fsrcnn", **FSRCNN), quant_stack("fsrcnn", FSRCNN)


def _calib_folder(tmp_path, seed, n=2, size=32):
    """A folder of `n` natural-image-like grey PNGs (images(seed + i)): --calib / --data for the CLI tests."""
    from PIL import Image

    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(n):
        Image.fromarray((images(seed + i, n=1, size=size)[0, ..., 0] * 255).astype(np.uint8)).save(calib / f"{i}.png")
    return calib


def test_equalize_keeps_the_float_output_and_evens_the_channel_ranges(tmp_path):
    path, net, stack = _fsrcnn(tmp_path)
    x = nchw(images(6, n=2, size=16))
    equalised = tq.equalize(net, stack, [x], alpha=1.0)
    with torch.no_grad():
        want, got = net(x).numpy(), equalised(x).numpy()
    assert not np.array_equal(got, want)  # the weights did change ...
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerances.EQUALIZE_FLOAT32_ABS * np.abs(want).max())
    changed = [k for k, v in equalised.state_dict().items() if not torch.equal(v, net.state_dict()[k])]
    assert "first_part.0.weight" in changed and "last_part.weight" in changed  # producer and consumer
    # alpha 1: channel c scaled by R / r_c, so every middle activation's channels span the widest one's range
    ranges = tq.channel_ranges(equalised, stack, [x])
    for prelu in ("first_part.1", "mid_part.1", "mid_part.3"):
        producer = stack.layers[[layer.prefix for layer in stack.layers].index(prelu) - 1].prefix
        width = np.maximum(ranges[producer][1] - ranges[producer][0], ranges[prelu][1] - ranges[prelu][0])
        np.testing.assert_allclose(width, width.max(), rtol=1e-5, err_msg=prelu)
    # JAX equalises to the same weights (its own channel ranges, the same NumPy formula)
    jm = jrestore.load(path, model="fsrcnn", **FSRCNN)
    jq.equalize(jm, stack, [images(6, n=2, size=16)], alpha=1.0)
    mine = jq.float_weights(jm, stack)
    for key, value in mine.items():
        np.testing.assert_allclose(value, equalised.state_dict()[key].numpy(), rtol=1e-5, atol=1e-7, err_msg=key)


def test_equalize_refuses_a_non_positive_alpha(tmp_path):
    _, net, stack = _fsrcnn(tmp_path)
    with pytest.raises(ValueError, match=r"--equalize: expected an exponent alpha > 0.*got -0.5"):
        equalize_activations({}, stack, {}, -0.5)


def test_activation_bits_are_recorded_and_read_as_7_when_absent(tmp_path):
    _, net, stack = _fsrcnn(tmp_path)
    stack8 = stack.with_activation_bits(8)
    _, tensors = tq.ptq(net, stack8, [nchw(images(2, n=2, size=16))])
    tensors["mid_part.0.output_zero_point"] = np.array([200], np.int32)  # a valid 8-bit level, not a 7-bit one
    path = save_int8_file(tmp_path / "f8.safetensors", tensors, model="fsrcnn", kwargs=FSRCNN, method="ptq",
                          framework="torch", activation_bits=8)
    back, _, meta, _ = read_int8_file(path)
    assert back.act_bits == 8 and back.act_qmax == 255 and meta["activation_bits"] == 8
    assert "0..255" in meta["scheme"]["activations"]
    # a file from before --activation-bits (no metadata key) is 7-bit; its zero points must lie in 0..127
    raw = load_file(str(path))
    old = tmp_path / "old.safetensors"
    meta_text = {k: json.dumps(v) for k, v in meta.items() if k != "activation_bits"}
    save_file(raw, str(old), metadata=meta_text)
    with pytest.raises(ValueError, match=r"mid_part.0.output_zero_point is 200, outside the 7-bit .* 0..127"):
        read_int8_file(old)
    with pytest.raises(ValueError, match="--activation-bits: expected one of \\[7, 8\\], got 6"):
        stack.with_activation_bits(6)


def test_exact_accumulation_bounds_the_files_own_integers(tmp_path, capsys):
    # The bound is (2^bits - 1) x the largest sum of |q| over the taps one output reads, computed here by hand.
    stack = quant_stack("dncnn", DNCNN_WIDE).with_activation_bits(8)
    weights = {layer.prefix: np.ones((64 if layer.prefix != "model.4" else 1, 1 if layer.prefix == "model.0" else 64,
                                      3, 3), np.int8) for layer in stack.quantised}
    weights["model.2"][:] = 115  # 255 x 115 x 576 = 16,891,200 >= 2^24 = 16,777,216
    tensors = {f"{p}.weight": w for p, w in weights.items()}
    with pytest.raises(ValueError, match=r"into model\.2: its int8 weights can sum to 16,891,200 >= 2\^24 "
                                         r"\(255 x 66,240"):
        jq.check_exact_accumulation(stack, tensors, DNCNN_WIDE)
    weights["model.2"][:] = 113  # 255 x 113 x 576 = 16,597,440 < 2^24
    jq.check_exact_accumulation(stack, tensors, DNCNN_WIDE)
    jq.check_exact_accumulation(stack.with_activation_bits(7), {**tensors, "model.2.weight": np.full((64, 64, 3, 3), 127,
                                                                                                     np.int8)}, DNCNN_WIDE)
    # a transposed convolution of stride 3: one output reads one sub-pixel phase, 3 x 3 of the 9 x 9 taps
    fsrcnn = dict(scale_factor=3, d=112, s=4, m=0)
    fstack = quant_stack("fsrcnn", fsrcnn).with_activation_bits(8)
    ftensors = {f"{p}.weight": np.zeros((1, 1, 1, 1), np.int8) for p in fstack.convs if p != "last_part"}
    deconv = np.zeros((112, 1, 9, 9), np.int8)
    deconv[:, :, 0::3, 0::3] = 70  # phase (0, 0): 255 x 70 x 1,008 = 17,992,800 >= 2^24
    with pytest.raises(ValueError, match=r"into last_part: its int8 weights can sum to 17,992,800"):
        jq.check_exact_accumulation(fstack, {**ftensors, "last_part.weight": deconv}, fsrcnn)
    deconv[:, :, 0::3, 0::3] = 65  # 255 x 65 x 1,008 = 16,707,600 < 2^24; the other phases read zeros
    deconv[:, :, 1::3, 1::3] = 65
    jq.check_exact_accumulation(fstack, {**ftensors, "last_part.weight": deconv}, fsrcnn)
    # the command refuses such a file after quantising, in one line, and writes nothing
    torch.manual_seed(0)
    net = torch_ref.models.get("dncnn", **DNCNN_WIDE)
    with torch.no_grad():
        net.model[2].weight.fill_(0.01)  # equal weights: every |q| is 127, 255 x 127 x 576 = 18.65M
    path = tmp_path / "dncnn.pth"
    torch.save(net.state_dict(), path)
    calib = _calib_folder(tmp_path, seed=1, n=1, size=24)
    out = tmp_path / "x.safetensors"
    assert main(["quantize", "--model", "dncnn", "--weights", str(path), "--set", "act_mode='R'", "--set",
                 "nc=64", "--set", "nb=3", "--method", "ptq", "--calib", str(calib), "--protocol", "kair_dncnn",
                 "--sigma", "25", "--activation-bits", "8", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--activation-bits" in err and "model.2" in err, err
    assert not out.exists()


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_cli_writes_an_8_bit_equalised_qat_file(tmp_path, capsys, framework):
    """The FSRCNN recipe's options through the command line: the file records them; the torch-made one is
    scored in both frameworks (the report's int8 PSNRs agree)."""
    weights, _, _ = _fsrcnn(tmp_path, seed=7)
    calib = _calib_folder(tmp_path, seed=10)
    out = tmp_path / "q8.safetensors"
    assert main(["quantize", "--model", "fsrcnn", "--weights", str(weights), "--scale", "2", "--set", "d=8",
                 "--set", "s=4", "--set", "m=1", "--method", "qat", "--framework", framework, "--steps", "3",
                 "--batch", "2", "--patch", "8", "--crops", "1", "--lr", "1e-4", "--calib", str(calib),
                 "--protocol", "yjn870", "--activation-bits", "8", "--equalize", "0.5", "--lr-schedule", "cosine",
                 "--qat-target", "teacher", "--freeze-ranges-after", "2", "--out", str(out), "--json"]
                + (["--data", str(calib)] if framework == "torch" else [])) == 0  # (scoring once is enough)
    report = json.loads(capsys.readouterr().out)
    assert report["activation_bits"] == 8
    calibration = report["calibration"]
    assert (calibration["equalize"], calibration["lr_schedule"], calibration["target"],
            calibration["freeze_ranges_after"]) == (0.5, "cosine", "teacher", 2)
    stack, _, meta, _ = read_int8_file(out)
    assert stack.act_bits == 8 and meta["calibration"] == calibration
    if framework == "torch":
        gap = abs(report["psnr"]["jax"]["int8"] - report["psnr"]["torch"]["int8"])
        assert gap < tolerances.INT8_PSNR_CROSS_FRAMEWORK_DB


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_cli_quantizes_a_prelu_checkpoint_in_its_split_form(tmp_path, capsys, framework):
    """--set prelu_split=true: the PReLU checkpoint is converted by rule, the int8 chain is conv + ReLU on
    doubled widths, the report's float32 bytes are the checkpoint's, and the int8 file approximates the PReLU
    network itself (the independent reference) in both frameworks."""
    torch.manual_seed(3)
    net = torch_ref.models.get("fsrcnn", **FSRCNN)
    with torch.no_grad():  # yjn870's N(0, 0.001) deconvolution init gives ~1e-3 outputs, as no trained model does
        net.last_part.weight.mul_(30)
    weights = tmp_path / "fsrcnn.pth"
    torch.save(net.state_dict(), weights)
    calib = _calib_folder(tmp_path, seed=20)
    out = tmp_path / "split.safetensors"
    assert main(["quantize", "--model", "fsrcnn", "--weights", str(weights), "--scale", "2", "--set", "d=8",
                 "--set", "s=4", "--set", "m=1", "--set", "prelu_split=true", "--method", "qat", "--framework",
                 framework, "--steps", "3", "--batch", "2", "--patch", "16", "--crops", "4", "--lr", "1e-4",
                 "--calib", str(calib), "--protocol", "yjn870", "--activation-bits", "8", "--qat-target", "teacher",
                 "--equalize", "0.5", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bytes"]["float32"] == 4 * sum(v.numel() for v in net.state_dict().values())
    stack, tensors, meta, kwargs = read_int8_file(out)
    assert kwargs["prelu_split"] is True and {layer.kind for layer in stack.layers} == {"conv", "relu", "conv_transpose"}
    assert tensors["first_part.0.weight"].shape == (16, 1, 5, 5) and tensors["last_part.weight"].shape == (16, 1, 9, 9)
    stored = load_file(str(out))  # each (c, -c) pair once: equalisation and QAT kept them tied
    assert stored["first_part.0.weight"].shape == (8, 1, 5, 5) and stored["mid_part.0.weight"].shape == (4, 16, 1, 1)
    assert stored["last_part.weight"].shape == (16, 1, 9, 9)  # the deconvolution's outputs are not paired
    x = np.concatenate([images(20 + i, n=1, size=32)[:, ::2, ::2] for i in range(2)])  # the LR calibration images
    with torch.no_grad():
        want = net.eval()(nchw(x)).numpy()
        got_torch = tq.int8_model(stack, tensors, kwargs)(nchw(x)).numpy()
    got_jax = np.asarray(jq.int8_forward(stack, tensors, kwargs)(x)).transpose(0, 3, 1, 2)
    for got in (got_torch, got_jax):  # int8, not float: off by some levels, not by the output's range
        assert 0 < np.abs(got - want).max() < 0.1 * np.ptp(want)


def test_paired_layers_are_stored_once_and_refused_untied(tmp_path):
    """fold_pairs / unfold_pairs against hand-made tensors: the second half of a paired layer is the first's
    negation (scales: copy); int8 -(-128) is 127, and 127 against -128 (torch's clipped +127.5) is the one
    tolerated difference, stored as -127."""
    from jrestore.core.quantize import fold_pairs, unfold_pairs

    stack = quant_stack("fsrcnn", {**FSRCNN, "prelu_split": True})
    assert stack.paired_outputs == ("first_part.0", "mid_part.0", "mid_part.2", "mid_part.4")
    q = np.array([[-128], [5], [127], [127], [-5], [-127]], np.int8)  # rows 3.. pair rows ..3
    tensors = {"first_part.0.weight": q, "first_part.0.bias": np.array([1, -2, 3, -1, 2, -3], np.float32),
               "first_part.0.weight_scale": np.array([0.5, 0.25, 2, 0.5, 0.25, 2], np.float32)}
    folded = fold_pairs(stack, tensors)
    assert folded["first_part.0.weight"].tolist() == [[-128], [5], [127]]
    back = unfold_pairs(stack, folded)
    assert back["first_part.0.weight"].tolist() == [[-128], [5], [127], [127], [-5], [-127]]
    assert back["first_part.0.bias"].tolist() == [1, -2, 3, -1, 2, -3]
    assert back["first_part.0.weight_scale"].tolist() == [0.5, 0.25, 2, 0.5, 0.25, 2]
    q[5, 0] = -128  # torch's clipped pair of 127: tolerated, stored as -127
    assert unfold_pairs(stack, fold_pairs(stack, tensors))["first_part.0.weight"][5, 0] == -127
    for key, row, value in (("first_part.0.weight", 4, -6), ("first_part.0.bias", 3, -1.5),
                            ("first_part.0.weight_scale", 5, 1.0)):
        broken = {k: v.copy() for k, v in tensors.items()}
        broken[key][row] = value
        with pytest.raises(ValueError, match=rf"x.safetensors: {key}: the \(c, -c\) channel pairs of first_part.0 "
                                             r"are not tied"):
            fold_pairs(stack, broken, "x.safetensors")


@pytest.mark.parametrize("flags, message", [
    (["--method", "ptq", "--freeze-ranges-after", "5"], "expected --method qat"),
    (["--method", "qat", "--freeze-ranges-after", "-1"], "expected a step count >= 0")])
def test_cli_refuses_freeze_ranges_after_outside_qat(tmp_path, capsys, flags, message):
    weights, _, _ = _fsrcnn(tmp_path, seed=7)
    out = tmp_path / "q.safetensors"
    assert main(["quantize", "--model", "fsrcnn", "--weights", str(weights), "--scale", "2", "--set", "d=8",
                 "--set", "s=4", "--set", "m=1", "--calib", str(tmp_path), "--protocol", "yjn870",
                 "--out", str(out)] + flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--freeze-ranges-after" in err and message in err, err
    assert not out.exists()


@pytest.mark.parametrize("options, message", [
    (dict(lr_schedule="linear"), "--lr-schedule: expected one of ['constant', 'cosine'], got 'linear'"),
    (dict(target="hr"), "--qat-target: expected one of ['data', 'teacher'], got 'hr'"),
    (dict(freeze_ranges_after=-2), "--freeze-ranges-after: expected a step count >= 0 (0: never), got -2")])
def test_both_frameworks_qat_refuse_bad_options_alike(tmp_path, options, message):
    """One definition (jrestore.core.quantize.check_qat_options), the same one-line error in both qat."""
    weights, net, stack = _fsrcnn(tmp_path)
    with pytest.raises(ValueError) as torch_error:
        tq.qat(net, stack, [], steps=1, **options)
    with pytest.raises(ValueError) as jax_error:
        jq.qat(jrestore.load(weights, model="fsrcnn", **FSRCNN), stack, FSRCNN, [], iter([]), steps=1, **options)
    assert str(torch_error.value) == str(jax_error.value) == message


def test_torch_qat_fake_quantises_the_deconvolution_as_convert_will(tmp_path, monkeypatch):
    """torch.ao has no QAT ConvTranspose2d: without torch_ref.quantize's stand-in, FSRCNN's deconvolution
    trained with float weights that convert_fx then rounded unseen. The stand-in's weight is the converted
    module's (int8 x scale), and QAT runs it at every step."""
    path, net, stack = _fsrcnn(tmp_path, seed=9)
    x = nchw(images(3, n=2, size=12))
    deconv = net.last_part
    _, tensors = tq.ptq(net, stack, [x])  # convert_fx's per-tensor int8 weight of the same float weight
    dequantised = torch.from_numpy(
        tensors["last_part.weight"].astype(np.float32) * tensors["last_part.weight_scale"][0])
    stand_in = tq._WeightFakeQuantConvTranspose2d(deconv.in_channels, deconv.out_channels, deconv.kernel_size,
                                                  deconv.stride, deconv.padding, deconv.output_padding)
    stand_in.load_state_dict(deconv.state_dict())
    h = torch.rand(2, deconv.in_channels, 6, 6)
    with torch.no_grad():
        want = torch.nn.functional.conv_transpose2d(h, dequantised, deconv.bias, deconv.stride, deconv.padding,
                                                    deconv.output_padding)
        assert not torch.allclose(deconv(h), want, rtol=0, atol=1e-7)  # the int8 rounding shows
        np.testing.assert_allclose(stand_in(h).numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
    calls = []
    original = tq._WeightFakeQuantConvTranspose2d.forward
    monkeypatch.setattr(tq._WeightFakeQuantConvTranspose2d, "forward",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    y = torch.rand(2, 1, 24, 24)
    tq.qat(net, stack, [(x, y)], steps=2, lr=1e-4)
    assert len(calls) == 2
