"""INT8 across the two frameworks: JAX (AQT) calibration against PyTorch's observers, and JAX-int8 against
torch-int8 (fbgemm) running the same int8 file. (The int8 file, the CLI and each framework's own PTQ / QAT are
tested in tests/test_quantize.py.)

The independent references: PyTorch's own observers for the calibrated parameters (the JAX calibration must
give the same ones) and PyTorch's converted module for the int8 arithmetic (the JAX model must match it to the
named number of levels).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jrestore
import torch_ref
import torch_ref.quantize as tq
from jrestore import quantize as jq
from jrestore.core.quantize import activation_qparams, fake_quantize_np, percentile_np, quant_stack
from jrestore.parity import tolerances
from parity_tests._quantize_data import DNCNN, FSRCNN, dncnn_ptq, images, nchw, weights_file  # noqa: F401 (fixture)


@pytest.mark.parametrize("observer, float_layers", [("minmax", ()), ("percentile", ("model.2",))])
def test_jax_calibration_gives_torch_observer_parameters(dncnn_ptq, observer, float_layers):
    _, weights, net, stack, noisy, _, tensors = dncnn_ptq
    stack = stack.with_float_layers(float_layers)
    if observer != "minmax" or float_layers:
        tensors = tq.ptq(net, stack, [nchw(noisy[:2]), nchw(noisy[1:])], observer=observer)[1]
        noisy = [noisy[:2], noisy[1:]]
    else:
        noisy = [noisy]
    jm = jrestore.load(weights, model="dncnn", **DNCNN)
    mine = jq.ptq(jm, stack, noisy, observer=observer)
    assert set(mine) == set(tensors)
    for key in tensors:
        if key.endswith("zero_point"):
            assert np.array_equal(mine[key], tensors[key]), key
        elif key.endswith("scale") or key.endswith("bias"):
            np.testing.assert_allclose(mine[key], tensors[key], rtol=tolerances.FLOAT32_ROUNDING * 10, err_msg=key)
        else:  # int8 weights: equal, except that AQT clips to +-127 where torch's range reaches -128 (w = -max|w|)
            differ = mine[key] != tensors[key]
            assert np.all(tensors[key][differ] == -128) and np.all(mine[key][differ] == -127), key


@pytest.mark.parametrize("name, kwargs, observer, float_layers, bits", [
    ("dncnn", DNCNN, "minmax", (), 7), ("fsrcnn", FSRCNN, "minmax", (), 7),
    ("fsrcnn", FSRCNN, "percentile", ("first_part.0", "mid_part.2"), 7), ("dncnn", DNCNN, "histogram", ("model.2",), 7),
    ("fsrcnn", FSRCNN, "minmax", (), 8), ("dncnn", DNCNN, "minmax", ("model.0",), 8),
    ("fsrcnn", {**FSRCNN, "prelu_split": True}, "minmax", (), 8)])  # conv + ReLU: one grid per layer
def test_jax_int8_matches_torch_int8_on_the_same_file(tmp_path, name, kwargs, observer, float_layers, bits):
    """bits 8: levels 0..255, torch on qnnpack, JAX's AQT with 9-bit symmetric activation numerics."""
    net = torch_ref.load(weights_file(tmp_path, name, kwargs, seed=3), model=name, **kwargs)
    if name == "fsrcnn":  # yjn870's N(0, 0.001) deconvolution init gives outputs ~1e-3, as no trained model does:
        with torch.no_grad():  # bring them to ~0.2, so the output's level is not far below the upstream ones
            net.last_part.weight.mul_(30)
    stack = quant_stack(name, kwargs).with_float_layers(float_layers).with_activation_bits(bits)
    x = images(4, n=2, size=20)
    qnet, tensors = tq.ptq(net, stack, [nchw(x)], observer=observer)
    assert torch.backends.quantized.engine == ("qnnpack" if bits == 8 else "x86")
    zero_points = [int(v[0]) for k, v in tensors.items() if k.endswith("zero_point")]
    assert max(zero_points) <= 2 ** bits - 1 and (bits == 7 or max(zero_points) > 0)
    for prefix in float_layers:  # the float layers hold float32 weights and no int8 scales
        assert tensors[f"{prefix}.weight"].dtype == np.float32 and f"{prefix}.weight_scale" not in tensors
    with torch.no_grad():
        want, float_out = qnet(nchw(x)).numpy(), net(nchw(x)).numpy()
        # the file's tensors rebuilt as a torch module (what eval runs) give the PTQ module's output exactly
        assert np.array_equal(tq.int8_model(stack, tensors, kwargs)(nchw(x)).numpy(), want)
    got = np.asarray(jq.int8_forward(stack, tensors, kwargs)(jnp.asarray(x))).transpose(0, 3, 1, 2)
    level = float(tensors[f"{stack.points[-1]}.output_scale"][0])
    assert np.abs(got - want).max() <= tolerances.INT8_CROSS_FRAMEWORK_LEVELS * level * (1 + 1e-5)
    assert np.mean(np.abs(got - want) > level / 2) <= tolerances.INT8_CROSS_FRAMEWORK_SHARE
    # and both are an int8 model, not the float one: close to float, but not equal to it
    assert 0 < np.abs(want - float_out).max() < 0.1 * np.abs(float_out).max()


def _float_activations(net, stack, x):
    """{'input' | prefix: activation} of the float torch model at every quantisation point ([B, C, H, W])."""
    out, h = {"input": x.numpy()}, x
    with torch.no_grad():
        for layer in stack.layers:
            h = net.get_submodule(layer.prefix)(h)
            if layer.kind != "relu" and not layer.fused_relu or layer.kind == "relu":
                key = layer.prefix if layer.kind != "relu" else stack.layers[stack.layers.index(layer) - 1].prefix
                out[key] = h.numpy()
    return out


@pytest.mark.parametrize("observer", ["minmax", "percentile"])
def test_observer_ranges_match_a_numpy_reference(tmp_path, observer):
    """Both frameworks' calibrated (scale, zero point) at every point against NumPy on the float activations:
    minmax the extremes over both batches; percentile (99.9 here, so several values are clipped) each batch's
    percentiles averaged over the batches."""
    net = torch_ref.load(weights_file(tmp_path, "fsrcnn", FSRCNN, seed=2), model="fsrcnn", **FSRCNN)
    stack = quant_stack("fsrcnn", FSRCNN)
    batches = [images(10, n=2, size=20), images(11, n=2, size=20)]
    acts = [_float_activations(net, stack, nchw(b)) for b in batches]
    torch_tensors = tq.ptq(net, stack, [nchw(b) for b in batches], observer=observer, percentile=99.9)[1]
    jm = jrestore.load(tmp_path / "fsrcnn.pth", model="fsrcnn", **FSRCNN)
    jax_tensors = jq.ptq(jm, stack, batches, observer=observer, percentile=99.9)
    for point in stack.points:
        if observer == "minmax":
            lo = min(float(a[point].min()) for a in acts)
            hi = max(float(a[point].max()) for a in acts)
        else:
            lo = np.mean([percentile_np(a[point], 0.1) for a in acts])
            hi = np.mean([percentile_np(a[point], 99.9) for a in acts])
            assert hi < max(float(a[point].max()) for a in acts)  # the percentile clipped something
        scale, zero_point = activation_qparams(lo, hi)
        key = "input." if point == "input" else f"{point}.output_"
        for tensors in (torch_tensors, jax_tensors):
            assert tensors[f"{key}scale"][0] == pytest.approx(scale, rel=tolerances.FLOAT32_ROUNDING * 10), point
            assert int(tensors[f"{key}zero_point"][0]) == zero_point, point


def test_one_int8_layer_matches_a_fake_quant_reference(tmp_path):
    """Mixed precision (what --float-layers and each --sensitivity row run): only model.2 int8, the rest float.
    Reference: the float torch modules, with model.2's input and output put on their uint8 grids by NumPy and
    its weights dequantised from the file's integers."""
    net = torch_ref.load(weights_file(tmp_path, "dncnn", DNCNN, seed=6), model="dncnn", **DNCNN)
    stack = quant_stack("dncnn", DNCNN)
    alone = stack.with_float_layers([p for p in stack.convs if p != "model.2"])
    assert alone.points == ("model.0", "model.2")  # model.2's input (model.0's ReLU output) and its output
    x = images(12, n=2, size=20)
    tensors = tq.ptq(net, alone, [nchw(x)])[1]
    assert set(k for k in tensors if tensors[k].dtype == np.int8) == {"model.2.weight"}
    with torch.no_grad():
        h = net.model[1](net.model[0](nchw(x))).numpy()
        h = fake_quantize_np(h, tensors["model.0.output_scale"][0], tensors["model.0.output_zero_point"][0])
        w = tensors["model.2.weight"].astype(np.float32) * tensors["model.2.weight_scale"].reshape(-1, 1, 1, 1)
        h = torch.relu(torch.nn.functional.conv2d(torch.from_numpy(h), torch.from_numpy(w),
                                                  torch.from_numpy(tensors["model.2.bias"]), padding=1)).numpy()
        h = fake_quantize_np(h, tensors["model.2.output_scale"][0], tensors["model.2.output_zero_point"][0])
        want = (nchw(x) - net.model[4:](torch.from_numpy(h))).numpy()
        torch_out = tq.int8_model(alone, tensors, DNCNN)(nchw(x)).numpy()
    jax_out = np.asarray(jq.int8_forward(alone, tensors, DNCNN)(jnp.asarray(x))).transpose(0, 3, 1, 2)
    level = float(tensors["model.2.output_scale"][0])
    for got in (torch_out, jax_out):  # a requantisation tie may land one level apart, moving the float rest a bit
        assert np.abs(got - want).max() <= tolerances.INT8_CROSS_FRAMEWORK_LEVELS * level
        assert np.mean(np.abs(got - want) > 1e-5) <= tolerances.INT8_CROSS_FRAMEWORK_SHARE
    # and the rest really ran in float: the all-int8 model is further from the float model than this one
    with torch.no_grad():
        float_out = net(nchw(x)).numpy()
        all_int8 = tq.ptq(net, stack, [nchw(x)])[0](nchw(x)).numpy()
    assert 0 < np.abs(torch_out - float_out).mean() < np.abs(all_int8 - float_out).mean()
