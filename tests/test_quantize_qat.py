"""JAX QAT's activation ranges (jrestore.quantize.qat): with the minmax observer every step observes each
quantisation point's min / max before fake-quantising it and moves the range by PyTorch's
MovingAverageMinMaxObserver rule; float layers (--float-layers) run in float and only the points an int8
convolution reads or writes are quantised; with the percentile observer the ranges are calibrated once (int8
weights, float activations) and then frozen.

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
from jrestore.core.quantize import (ACT_QMAX, ACT_QMIN, WEIGHT_BOUND, activation_qparams, percentile_np,
                                    quant_stack)
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


def _points(int8):
    """Indices of the quantisation points (0 the input, k the output of conv k - 1) of a chain of convs whose
    int8 flags are `int8`: the input and output of every int8 conv."""
    return sorted({i for k, flag in enumerate(int8) if flag for i in (k, k + 1)})


def _reference_ranges(kernels, biases, relus, int8, batches, c):
    """Final (min, max) per quantisation point (`_points` order) of PyTorch's QAT observers over `batches`,
    float64; convs whose int8 flag is False run their float kernels."""
    points = _points(int8)
    ranges = {k: None for k in points}

    def observe(k, h):
        if k not in ranges:
            return h
        ranges[k] = _ema(ranges[k], (h.min(), h.max()), c)
        return _fake_quant(h, *ranges[k])
    for x in batches:
        h = observe(0, x.astype(np.float64))
        for k, (kernel, bias, relu, flag) in enumerate(zip(kernels, biases, relus, int8), start=1):
            h = _conv_same(h, _int8_kernel(kernel) if flag else kernel, bias)
            h = observe(k, np.maximum(h, 0) if relu else h)
    return [ranges[k] for k in points]


def _reference_percentile_ranges(kernels, biases, relus, batches, p):
    """(low, high) per point of torch's QAT calibration with the percentile observer: int8 weights, float
    activations, each batch's (100 - p)-th and p-th percentiles averaged over the batches, float64."""
    found = []
    for x in batches:
        h = x.astype(np.float64)
        seen = [(percentile_np(h, 100 - p), percentile_np(h, p))]
        for kernel, bias, relu in zip(kernels, biases, relus):
            h = _conv_same(h, _int8_kernel(kernel), bias)
            h = np.maximum(h, 0) if relu else h
            seen.append((percentile_np(h, 100 - p), percentile_np(h, p)))
        found.append(seen)
    return [tuple(np.mean([batch[k][i] for batch in found]) for i in (0, 1)) for k in range(len(found[0]))]


def _float64_layers(jm, stack):
    convs = [jq.submodule(jm, layer.prefix) for layer in stack.quantised]
    kernels = [np.asarray(m.weight[...], np.float64) for m in convs]
    biases = [np.asarray(m.bias[...], np.float64) for m in convs]
    return kernels, biases, [layer.fused_relu for layer in stack.quantised]


def _assert_ranges(tensors, names, want):
    for name, (lo, hi) in zip(names, want):
        key = "input." if name == "input" else f"{name}.output_"
        scale, zero_point = activation_qparams(lo, hi)
        got_scale, got_zero_point = float(tensors[f"{key}scale"][0]), int(tensors[f"{key}zero_point"][0])
        assert got_scale == pytest.approx(scale, rel=tolerances.QAT_RANGE_FLOAT64_REL), name
        # the range's low end, rebuilt from (scale, zero point): within one level of the reference's
        assert abs(got_zero_point - zero_point) <= 1, name


@pytest.fixture(scope="module")
def tiny_dncnn(tmp_path_factory):
    torch.manual_seed(11)
    path = tmp_path_factory.mktemp("qat") / "dncnn.pth"
    torch.save(tmodels.get("dncnn", **TINY_DNCNN).state_dict(), path)
    rng = np.random.default_rng(12)
    clean = np.clip(np.linspace(0.2, 0.8, 12)[None, :, None, None] + 0.1 * rng.standard_normal((2, 12, 12, 1)), 0, 1)
    batches = [(clean + 25 / 255 * rng.standard_normal(clean.shape)).astype(np.float32) for _ in range(4)]
    return path, batches


@pytest.mark.parametrize("float_layers", [(), ("model.2",), ("model.0", "model.4")])
def test_qat_ranges_follow_torchs_moving_average(tiny_dncnn, float_layers):
    path, batches = tiny_dncnn
    averaging_constant = 0.3  # larger than torch's 0.01, so that four steps move the ranges well away from the first
    jm = jrestore.load(path, model="dncnn", **TINY_DNCNN)
    # float ends: the input is no quantisation point, the last conv's output neither (FX's qconfig None)
    stack = quant_stack("dncnn", TINY_DNCNN).with_float_layers(float_layers)
    kernels, biases, relus = _float64_layers(jm, stack)
    int8 = [stack.is_int8(layer) for layer in stack.quantised]
    want = _reference_ranges(kernels, biases, relus, int8, batches, averaging_constant)
    pairs = [(x, x) for x in batches]
    tensors = jq.qat(jm, stack, TINY_DNCNN, [], iter(pairs), steps=len(batches), lr=0.0,
                     averaging_constant=averaging_constant)
    ends_float = "model.0" in float_layers
    assert len(stack.points) == len(want) == (2 if ends_float else 4)
    # a float middle layer changes the ranges after it (its float kernel, not the int8 one, in the reference)
    _assert_ranges(tensors, stack.points, want)
    # a float layer is written in float32, and no range where the activation stays float
    for name in float_layers:
        assert tensors[f"{name}.weight"].dtype == np.float32 and f"{name}.weight_scale" not in tensors
    assert ("input.scale" in tensors) is not ends_float
    assert ("model.4.output_scale" in tensors) is not ends_float
    if not float_layers:  # the moving average is not the last batch's range (nor the first's) unless c is 1
        last = batches[-1]
        assert float(tensors["input.scale"][0]) != pytest.approx(activation_qparams(last.min(), last.max())[0],
                                                                  rel=tolerances.QAT_RANGE_FLOAT64_REL)


def test_qat_with_the_percentile_observer_calibrates_then_freezes(tiny_dncnn):
    path, batches = tiny_dncnn
    jm = jrestore.load(path, model="dncnn", **TINY_DNCNN)
    stack = quant_stack("dncnn", TINY_DNCNN)
    want = _reference_percentile_ranges(*_float64_layers(jm, stack), batches[:2], 99.0)
    # training batches other than the calibration's: moving ranges would leave the calibrated ones
    pairs = [(x, x) for x in batches[2:]]
    tensors = jq.qat(jm, stack, TINY_DNCNN, batches[:2], iter(pairs), steps=len(pairs), lr=0.0,
                     observer="percentile", percentile=99.0)
    _assert_ranges(tensors, stack.points, want)


def test_qat_rejects_bad_range_settings(tiny_dncnn):
    path, batches = tiny_dncnn
    jm = jrestore.load(path, model="dncnn", **TINY_DNCNN)
    stack = quant_stack("dncnn", TINY_DNCNN)
    with pytest.raises(ValueError, match="range_init"):
        jq.qat(jm, stack, TINY_DNCNN, [], iter([]), steps=1, range_init="histogram")
    with pytest.raises(ValueError, match="averaging_constant"):
        jq.qat(jm, stack, TINY_DNCNN, [], iter([]), steps=1, averaging_constant=1.5)
    with pytest.raises(ValueError, match="averaging_constant"):  # percentile ranges are frozen
        jq.qat(jm, stack, TINY_DNCNN, batches, iter([]), steps=1, observer="percentile", averaging_constant=0.01)
    with pytest.raises(ValueError, match="'histogram' is not mirrored"):
        jq.qat(jm, stack, TINY_DNCNN, batches, iter([]), steps=1, observer="histogram")


def test_qat_ranges_stop_moving_after_freeze_ranges_after_steps(tiny_dncnn):
    """--freeze-ranges-after K: the file's ranges are those after K of the steps (the float64 moving average
    over the first K batches), however many steps follow."""
    path, batches = tiny_dncnn
    jm = jrestore.load(path, model="dncnn", **TINY_DNCNN)
    stack = quant_stack("dncnn", TINY_DNCNN)
    kernels, biases, relus = _float64_layers(jm, stack)
    int8 = [True] * len(kernels)
    want = _reference_ranges(kernels, biases, relus, int8, batches[:2], 0.3)
    moved = _reference_ranges(kernels, biases, relus, int8, batches, 0.3)
    assert abs(moved[0][1] - want[0][1]) > 10 * tolerances.QAT_RANGE_FLOAT64_REL * abs(want[0][1])  # it would move
    tensors = jq.qat(jm, stack, TINY_DNCNN, [], iter([(x, x) for x in batches]), steps=len(batches), lr=0.0,
                     averaging_constant=0.3, freeze_ranges_after=2)
    _assert_ranges(tensors, stack.points, want)
    with pytest.raises(ValueError, match="freeze-ranges-after"):
        jq.qat(jm, stack, TINY_DNCNN, [], iter([]), steps=1, freeze_ranges_after=-1)


def _transposed_conv_float64(x, kernel, stride, padding, output_padding):
    """PyTorch's ConvTranspose2d in float64 by its definition: every input pixel scatters kernel * value to
    stride * i + tap - padding. x [B, H, W, I], kernel [kh, kw, I, O] (the unflipped, PyTorch-layout taps)."""
    b, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    full = np.zeros((b, (h - 1) * stride + kh + output_padding, (w - 1) * stride + kw + output_padding, cout))
    for i in range(kh):
        for j in range(kw):
            full[:, i:i + (h - 1) * stride + 1:stride, j:j + (w - 1) * stride + 1:stride] += x @ kernel[i, j]
    out_h = (h - 1) * stride - 2 * padding + kh + output_padding
    out_w = (w - 1) * stride - 2 * padding + kw + output_padding
    return full[:, padding:padding + out_h, padding:padding + out_w]


@pytest.mark.parametrize("kernel_size, stride, padding, output_padding, cin, cout", [
    (9, 3, 4, 2, 6, 1),  # FSRCNN x3's last_part
    (4, 2, 1, 0, 3, 2), (3, 2, 1, 1, 4, 3)])
def test_qat_transposed_convolution_runs_as_sub_pixel_phases(kernel_size, stride, padding, output_padding, cin,
                                                             cout):
    """QAT's AQT dot_general of a transposed convolution (over the input's sub-pixel phases, not its 3x-dilated
    copy: 9x fewer patch values for FSRCNN) computes the fake-quantised ConvTranspose2d: 9-bit symmetric
    activations at the given scale (8-bit activations, see _lhs_bits) and one AbsMax int8 scale for the whole
    kernel (PyTorch's per-tensor transposed-conv weights), against the float64 definition; its gradients equal
    those of the same dot_general on the explicitly dilated input."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(5)
    x = rng.uniform(-0.3, 1.0, (2, 5, 6, cin)).astype(np.float32)
    torch_kernel = rng.normal(0, 0.1, (kernel_size, kernel_size, cin, cout)).astype(np.float32)
    torch_kernel[..., -1] *= 3  # per-channel AbsMax would differ from the per-tensor scale
    scale = np.float32(1.3 / 255)
    pads = tuple((kernel_size - 1 - padding, kernel_size - 1 - padding + output_padding) for _ in range(2))
    forward_kernel = jnp.asarray(torch_kernel[::-1, ::-1].copy())  # lax's forward convolution of the transpose

    @jax.jit  # as QAT runs it (AQT's eager dot_general warns of a JAX deprecation; traced it does not)
    def phases(x, kernel):
        return jq._aqt_dot_conv(x, kernel, scale, (1, 1), pads, (stride, stride), 8, per_tensor=True)

    @jax.jit
    def dilated(x, kernel):
        d = jnp.zeros((x.shape[0], (x.shape[1] - 1) * stride + 1, (x.shape[2] - 1) * stride + 1, cin))
        return jq._aqt_dot_conv(d.at[:, ::stride, ::stride].set(x), kernel, scale, (1, 1), pads, None, 8,
                                per_tensor=True)
    got = np.asarray(phases(jnp.asarray(x), forward_kernel))
    w_scale = np.abs(torch_kernel.astype(np.float64)).max() / WEIGHT_BOUND
    x_q = scale * np.clip(np.round(x.astype(np.float64) / scale), -255, 255)
    k_q = w_scale * np.clip(np.round(torch_kernel / w_scale), -127, 127)
    want = _transposed_conv_float64(x_q, k_q, stride, padding, output_padding)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerances.LAYER * max(1.0, np.abs(want).max()))
    probe = jnp.asarray(rng.normal(size=got.shape), jnp.float32)
    grads = [jax.grad(lambda a, k: jnp.sum(f(a, k) * probe), (0, 1))(jnp.asarray(x), forward_kernel)
             for f in (phases, dilated)]
    for g_phase, g_dilated in zip(*grads):
        g_phase, g_dilated = np.asarray(g_phase), np.asarray(g_dilated)
        assert np.abs(g_dilated).max() > 0
        np.testing.assert_allclose(g_phase, g_dilated, rtol=0,
                                   atol=tolerances.GRADIENT * max(1.0, np.abs(g_dilated).max()))
