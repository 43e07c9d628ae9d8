"""JAX QAT's moving activation ranges (jrestore.quantize.qat): every step observes each quantisation point's
min / max before fake-quantising it and moves the range by PyTorch's MovingAverageMinMaxObserver rule.

The independent reference is a float64 NumPy transcription of the fake-quantised chain (AbsMax int8 weights per
output channel, uint8 activations) and of the observer's moving average, run over the same batches; with
lr 0 the weights stay put, so the ranges are the only state that moves.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import jrestore
import torch_ref.models as tmodels
from jrestore import quantize as jq
from jrestore.core.quantize import ACT_QMAX, ACT_QMIN, WEIGHT_BOUND, activation_qparams, quant_stack
from jrestore.parity import tolerances

TINY_DNCNN = dict(nc=4, nb=3, act_mode="R")


def _conv_same(x, kernel, bias):
    """3x3 stride-1 'same' convolution in float64: x [B, H, W, I], kernel HWIO -> [B, H, W, O]."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i:i + h, j:j + w] @ kernel[i, j]
    return out + bias


def _int8_kernel(kernel):
    """AbsMax per output channel, as AQT's int8 quantiser: scale max|w| / 127.5, levels rounded, +-127."""
    scale = np.abs(kernel).max(axis=(0, 1, 2)) / WEIGHT_BOUND
    return scale * np.clip(np.round(kernel / scale), -127, 127)


def _fake_quant(x, lo, hi):
    scale, zero_point = activation_qparams(lo, hi)
    return scale * (np.clip(np.round(x / scale) + zero_point, ACT_QMIN, ACT_QMAX) - zero_point)


def _ema(previous, observed, c):
    return observed if previous is None else tuple(p + c * (o - p) for p, o in zip(previous, observed))


def _reference_ranges(kernels, biases, relus, batches, c):
    """Final (min, max) per quantisation point of PyTorch's QAT observers over `batches`, float64."""
    ranges = [None] * (len(kernels) + 1)
    for x in batches:
        x = x.astype(np.float64)
        ranges[0] = _ema(ranges[0], (x.min(), x.max()), c)
        h = _fake_quant(x, *ranges[0])
        for k, (kernel, bias, relu) in enumerate(zip(kernels, biases, relus), start=1):
            h = _conv_same(h, _int8_kernel(kernel), bias)
            h = np.maximum(h, 0) if relu else h
            ranges[k] = _ema(ranges[k], (h.min(), h.max()), c)
            h = _fake_quant(h, *ranges[k])
    return ranges


@pytest.fixture(scope="module")
def tiny_dncnn(tmp_path_factory):
    torch.manual_seed(11)
    path = tmp_path_factory.mktemp("qat") / "dncnn.pth"
    torch.save(tmodels.get("dncnn", **TINY_DNCNN).state_dict(), path)
    rng = np.random.default_rng(12)
    clean = np.clip(np.linspace(0.2, 0.8, 12)[None, :, None, None] + 0.1 * rng.standard_normal((2, 12, 12, 1)), 0, 1)
    batches = [(clean + 25 / 255 * rng.standard_normal(clean.shape)).astype(np.float32) for _ in range(4)]
    return path, batches


def test_qat_ranges_follow_torchs_moving_average(tiny_dncnn):
    path, batches = tiny_dncnn
    averaging_constant = 0.3  # larger than torch's 0.01, so that four steps move the ranges well away from the first
    jm = jrestore.load(path, model="dncnn", **TINY_DNCNN)
    stack = quant_stack("dncnn", TINY_DNCNN)
    convs = [jq.submodule(jm, layer.prefix) for layer in stack.quantised]
    kernels = [np.asarray(m.weight[...], np.float64) for m in convs]
    biases = [np.asarray(m.bias[...], np.float64) for m in convs]
    want = _reference_ranges(kernels, biases, [layer.fused_relu for layer in stack.quantised], batches,
                             averaging_constant)
    pairs = [(x, x) for x in batches]
    tensors = jq.qat(jm, stack, TINY_DNCNN, [], iter(pairs), steps=len(batches), lr=0.0,
                     averaging_constant=averaging_constant)
    for name, (lo, hi) in zip(["input"] + [layer.prefix for layer in stack.quantised], want):
        key = "input." if name == "input" else f"{name}.output_"
        scale, zero_point = activation_qparams(lo, hi)
        got_scale, got_zero_point = float(tensors[f"{key}scale"][0]), int(tensors[f"{key}zero_point"][0])
        assert got_scale == pytest.approx(scale, rel=tolerances.QAT_RANGE_FLOAT64_REL), name
        # the range's low end, rebuilt from (scale, zero point): within one level of the reference's
        assert abs(got_zero_point - zero_point) <= 1, name
    # the moving average is not the last batch's range (nor the first's) unless the constant is 1
    last = batches[-1]
    assert float(tensors["input.scale"][0]) != pytest.approx(activation_qparams(last.min(), last.max())[0],
                                                              rel=tolerances.QAT_RANGE_FLOAT64_REL)


def test_qat_rejects_bad_range_settings(tiny_dncnn):
    path, batches = tiny_dncnn
    jm = jrestore.load(path, model="dncnn", **TINY_DNCNN)
    stack = quant_stack("dncnn", TINY_DNCNN)
    with pytest.raises(ValueError, match="range_init"):
        jq.qat(jm, stack, TINY_DNCNN, [], iter([]), steps=1, range_init="histogram")
    with pytest.raises(ValueError, match="averaging_constant"):
        jq.qat(jm, stack, TINY_DNCNN, [], iter([]), steps=1, averaging_constant=1.5)
