"""INT8 in JAX with Google's AQT (`aqtp`): int8 inference of an int8 file, post-training calibration, and
quantisation-aware training, for the chain jrestore.core.quantize.quant_stack names (DnCNN, FSRCNN).

    stack, tensors, meta, kwargs = read_int8_file("dncnn_int8.safetensors")
    params = int8_params(stack, tensors)                  # int8 kernels + scales (AQT QTensors), jnp arrays
    y = int8_apply(stack, params, x)                      # x [B, H, W, C] float32 -> [B, H', W', C]
    tensors = ptq(jm, stack, batches)                     # calibrate a float jrestore model -> int8 file tensors
    tensors = qat(jm, stack, kwargs, pairs, steps=200)    # AQT fake-quant training, then int8 tensors

How the pieces map onto AQT (aqt.jax.v2, 0.9.0):
- Inference: every Conv2d / ConvTranspose2d runs `aqt_conv_general.make_conv_general_dilated_with_qt` with
  the weights as a *full* QTensor (the file's int8 values, one scale per output channel) and the activation as
  an *incomplete* QTensor (only its static, calibrated scale), so AQT quantises the input with that scale and
  convolves the integers. AQT 0.9's conv casts both integer operands to float32 for `lax.conv`: exact (every
  partial sum is an integer below 2^24: `check_exact_accumulation` bounds it per file), so the result is the int8
  convolution's, but XLA's CPU runs it at float32 speed (`jrestore quantize --bench` measures it).
- Calibration (PTQ): the float model's activations at each quantisation point (min / max over the
  calibration batches, jitted), turned into uint8 (scale, zero point) by the same formula as PyTorch's
  observer (jrestore.core.quantize.activation_qparams); weights quantised by AQT's own quantiser
  (`aqt_quantizer.quantizer_make(8)`, AbsMax calibration per output channel: scale max|w| / 127.5, values
  rounded half to even and clipped to +-127).
- QAT: AQT's conv has no custom gradient (d round / dx = 0, measured: the weight gradient is exactly zero),
  so training runs each convolution as AQT's `dot_general` (which has straight-through gradients) on
  image patches (`_patches`; a transposed convolution over its sub-pixel phases, `_phase_matrix`): int8
  fake-quant of the weights (per output channel, AbsMax; per tensor for a transposed convolution) and of the
  activation (ConstantCalibration at the activation's current scale); the same integers as the conv, one
  matmul. The activation ranges move as PyTorch's QAT observers move them (`qat_observed_apply`: each step
  observes min / max before fake-quantising, MovingAverageMinMaxObserver's average, constant 0.01); with
  the percentile observer they are calibrated once and frozen, as torch_ref.quantize.qat does. Float layers
  (`--float-layers`) train and run as float lax convolutions, quantised only where an int8 one reads or
  writes (QuantStack.points), as PyTorch's FX graph does with their qconfig None.
- AQT quantises only the operands of convolutions and matmuls. PyTorch's converted graph also holds each
  conv's output (after its fused ReLU) and each PReLU's output as uint8 with a zero point; AQT's numerics
  are symmetric only. Both are mirrored here so the two frameworks run the same int8 model: the uint8 range
  becomes a clip to [scale * (0 - zp), scale * (127 - zp)] before AQT's symmetric quantiser (the integers
  q - zp then are AQT's), and the output requantisation is `_requantize` (in training
  `_fake_quantize_masked`, with torch's gradient).
"""
from __future__ import annotations

import functools
from typing import Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jrestore.core.quantize import (ACT_QMAX, ACT_QMIN, DEFAULT_PERCENTILE, QuantStack, activation_qparams,
                                    check_qat_options, prune_tensors)

__all__ = ["int8_params", "int8_apply", "int8_forward", "ptq", "qat", "qat_observed_apply", "submodule",
           "calibrate_ranges", "quantize_weights", "float_weights", "channel_ranges", "equalize",
           "set_float_weights", "check_exact_accumulation", "tie_pairs"]

_DIMS = ("NHWC", "HWIO", "NHWC")


def submodule(jm, prefix: str):
    """The NNX submodule at a PyTorch state-dict prefix ('model.4', 'mid_part.2', 'last_part')."""
    module = jm
    for part in prefix.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


# ---- the int8 model of a file ----

def _conv_geometry(stack: QuantStack, kwargs: Mapping, tensors: Mapping) -> dict:
    """Per conv prefix: (strides, padding pairs, lhs_dilation) of the lax convolution it runs."""
    import jrestore.models

    jm = jrestore.models.get(stack.model, **kwargs)
    out = {}
    for layer in stack.quantised:
        if layer.kind == "prelu":
            continue
        mod = submodule(jm, layer.prefix)
        if layer.kind == "conv":
            out[layer.prefix] = (mod.stride, mod.padding, None)
        else:
            pads = tuple((d * (k - 1) - p, d * (k - 1) - p + op) for k, p, op, d in
                         zip(mod.kernel_size, mod.padding, mod.output_padding, mod.dilation))
            out[layer.prefix] = ((1, 1), pads, mod.stride)
    return out


def _qparams(tensors: Mapping, key: str):
    """(scale, zero point) stored under `key` ('input.' or 'P.output_'), or None: that point stays float."""
    if f"{key}scale" not in tensors:
        return None
    return jnp.float32(tensors[f"{key}scale"][0]), jnp.int32(tensors[f"{key}zero_point"][0])


def int8_params(stack: QuantStack, tensors: Mapping) -> dict:
    """The int8 file's tensors as the arrays `int8_apply` runs: per conv its kernel in lax's HWIO layout (a
    ConvTranspose2d's as the flipped forward kernel): int8 with its scales shaped [1, 1, 1, out], or float32
    for a float layer; the bias; and the (scale, zero point) of every quantisation point the tensors hold
    (None where the activation stays float)."""
    params = {"input": _qparams(tensors, "input.")}
    for layer in stack.quantised:
        p = layer.prefix
        entry = {"output": _qparams(tensors, f"{p}.output_")}
        q = np.asarray(tensors[f"{p}.weight"])
        if layer.kind == "prelu":
            entry["slope"] = jnp.asarray(q, jnp.float32)
        else:
            if layer.kind == "conv":
                kernel = q.transpose(2, 3, 1, 0)  # OIHW -> HWIO
            else:  # IOHW -> [kH, kW, in, out], flipped: the forward convolution of PyTorch's transpose
                kernel = q.transpose(2, 3, 0, 1)[::-1, ::-1]
            if stack.is_int8(layer):
                entry["kernel"] = jnp.asarray(np.ascontiguousarray(kernel), jnp.int8)
                entry["kernel_scale"] = jnp.asarray(tensors[f"{p}.weight_scale"], jnp.float32).reshape(1, 1, 1, -1)
            else:
                entry["float_kernel"] = jnp.asarray(np.ascontiguousarray(kernel), jnp.float32)
            entry["bias"] = jnp.asarray(tensors[f"{p}.bias"], jnp.float32)
        params[p] = entry
    return params


def _clip_to_range(x, scale, zero_point, qmax: int = ACT_QMAX):
    """x clipped to the uint8 range of (scale, zero point): what PyTorch's quantize clamps at 0 and qmax."""
    return jnp.clip(x, scale * (ACT_QMIN - zero_point).astype(x.dtype), scale * (qmax - zero_point).astype(x.dtype))


def _requantize(x, scale, zero_point, qmax: int = ACT_QMAX):
    """x on the uint8 grid of (scale, zero point), as PyTorch requantises a conv's or PReLU's output."""
    q = jnp.clip(jnp.round(x / scale) + zero_point, ACT_QMIN, qmax)
    return scale * (q - zero_point).astype(x.dtype)


def _lhs_bits(act_bits: int) -> int:
    """AQT's (symmetric) numerics bits for `act_bits`-bit asymmetric activations: q - zp lies in
    [-(2^act_bits - 1), 2^act_bits - 1], which needs act_bits + 1 symmetric bits (8 for the 7-bit scheme)."""
    return act_bits + 1


@functools.lru_cache(maxsize=None)
def _aqt_conv(act_bits: int = 7):
    from aqt.jax.v2 import aqt_conv_general

    cfg = aqt_conv_general.conv_general_dilated_make(2, lhs_bits=_lhs_bits(act_bits), rhs_bits=8)
    return aqt_conv_general.make_conv_general_dilated_with_qt(cfg)


def check_exact_accumulation(stack: QuantStack, tensors: Mapping, kwargs: Mapping) -> None:
    """ValueError naming the first int8 convolution of int8 file `tensors` whose integer sums could reach 2^24:
    AQT 0.9 convolves the integers in float32, exact only while every partial sum is an integer below 2^24.
    The bound is the file's own integers': (2^act_bits - 1) x the largest sum of |weight integer| over the taps
    one output reads (|q - zp| <= 2^bits - 1): a convolution's output channel reads kh x kw x in taps, a
    transposed convolution of stride s one sub-pixel phase of them (ky = ry, kx = rx mod s). The worst case
    over any weights, 255 x 128 x taps, would refuse 8-bit DnCNN 3x3x64 (18.8M) and FSRCNN prelu_split's
    deconvolution (3 x 3 x 112 taps, 32.9M), whose real integers sum to far less (README, FSRCNN INT8)."""
    import jrestore.models

    jm = None
    for layer in stack.quantised:
        if not stack.is_int8(layer):
            continue
        q = np.abs(np.asarray(tensors[f"{layer.prefix}.weight"], np.int64))  # PyTorch layout
        if layer.kind == "conv_transpose":
            jm = jm if jm is not None else jrestore.models.get(stack.model, **kwargs)
            sy, sx = submodule(jm, layer.prefix).stride
            q = q.transpose(1, 0, 2, 3)  # [in, out, kh, kw] -> [out, in, kh, kw]
            sums = max(int(q[:, :, ry::sy, rx::sx].sum(axis=(1, 2, 3)).max()) for ry in range(sy) for rx in range(sx))
        else:
            sums = int(q.sum(axis=(1, 2, 3)).max())
        worst = stack.act_qmax * sums
        if worst >= 2 ** 24:
            raise ValueError(f"--activation-bits: {stack.act_bits}-bit activations into {layer.prefix}: its int8 "
                             f"weights can sum to {worst:,} >= 2^24 ({stack.act_qmax} x {sums:,}, the largest "
                             f"sum of |weights| one output reads), beyond AQT's exact float32 accumulation; use "
                             f"--activation-bits 7 or --float-layers {layer.prefix}")


def _int8_conv(x, entry, geometry, in_qparams, act_bits: int = 7):
    """One quantised convolution through AQT: x float32, quantised with its static scale; the kernel the
    file's int8 values. Returns the float32 result + bias."""
    from aqt.jax.v2 import aqt_tensor

    scale, zero_point = in_qparams
    x = _clip_to_range(x, scale, zero_point, 2 ** act_bits - 1)
    strides, padding, lhs_dilation = geometry
    lhs_qt = aqt_tensor.QTensor(qvalue=None, scale=[jnp.reshape(scale, (1, 1, 1, 1))], scale_t=None, bias=[],
                                dequant_dtype=jnp.float32)
    rhs_qt = aqt_tensor.QTensor(qvalue=entry["kernel"], scale=[entry["kernel_scale"]], scale_t=None, bias=[],
                                dequant_dtype=jnp.float32)
    dims = lax.conv_dimension_numbers(x.shape, entry["kernel"].shape, _DIMS)
    y, _ = _aqt_conv(act_bits)(x, jnp.zeros(entry["kernel"].shape, jnp.float32), strides, padding, lhs_qt, rhs_qt,
                       lhs_dilation, None, dims)
    return y + entry["bias"]


def _float_conv(x, kernel, geometry):
    """A float layer's convolution (--float-layers), in float32 like the float model."""
    strides, padding, lhs_dilation = geometry
    return lax.conv_general_dilated(x, kernel, strides, padding, lhs_dilation=lhs_dilation,
                                    dimension_numbers=_DIMS, precision=lax.Precision.HIGHEST)


def int8_apply(stack: QuantStack, params: Mapping, geometry: Mapping, x: jax.Array) -> jax.Array:
    """The int8 model: x [B, H, W, C] float32 -> output float32 (DnCNN: x - stack(x), the skip in float).
    Float layers run in float32; an activation is put on its uint8 grid where params hold its parameters."""
    qmax = stack.act_qmax
    qparams = params["input"]
    h = x if qparams is None else _requantize(x, *qparams, qmax)
    for layer in stack.layers:
        if layer.kind == "relu":
            continue
        entry = params[layer.prefix]
        if layer.kind == "prelu":
            h = jnp.where(h > 0, h, entry["slope"] * h)
        elif "kernel" in entry:
            if qparams is None:
                raise ValueError(f"{layer.prefix}: an int8 convolution needs its input's quantisation parameters")
            h = _int8_conv(h, entry, geometry[layer.prefix], qparams, stack.act_bits)
        else:
            h = _float_conv(h, entry["float_kernel"], geometry[layer.prefix]) + entry["bias"]
        if layer.fused_relu:
            h = jax.nn.relu(h)
        qparams = entry["output"]
        if qparams is not None:
            h = _requantize(h, *qparams, qmax)
    return x - h if stack.residual else h


def int8_forward(stack: QuantStack, tensors: Mapping, kwargs: Mapping):
    """fn(x [B, H, W, C] float32) -> output: the jitted int8 model of an int8 file's tensors."""
    params = int8_params(stack, tensors)
    geometry = _conv_geometry(stack, kwargs, tensors)
    return jax.jit(functools.partial(int8_apply, stack, params, geometry))


# ---- post-training calibration ----

def _percentile(x, q):
    """The q-th percentile (0-100) of all of x, linear interpolation between order statistics (NumPy's default
    method; torch_ref.quantize.PercentileObserver computes the same)."""
    flat = jnp.sort(x.reshape(-1))
    position = (q / 100.0) * (flat.size - 1)
    below = int(np.floor(position))
    above = min(below + 1, flat.size - 1)
    frac = jnp.float32(position - below)
    return flat[below] + (flat[above] - flat[below]) * frac


def calibrate_ranges(jm, stack: QuantStack, batches: Iterable, observer: str = "minmax",
                     percentile: float = DEFAULT_PERCENTILE) -> dict:
    """{'input' | prefix: (min, max)} of the float model's activations at every quantisation point over the
    batches ([B, H, W, C] float32): the stack input, each conv's output after its fused ReLU, each PReLU's.
    observer 'minmax': the extremes over all batches (PyTorch's MinMaxObserver); 'percentile': per batch the
    (100 - p)-th and p-th percentiles, averaged over the batches (torch_ref.quantize.PercentileObserver)."""
    from flax import nnx

    if observer not in ("minmax", "percentile"):
        raise ValueError(f"--observer: the JAX calibration computes {['minmax', 'percentile']} (histogram is "
                         f"PyTorch's HistogramObserver: use --framework torch), got {observer!r}")
    layers = [submodule(jm, layer.prefix) for layer in stack.layers]
    graphdef, state = nnx.split(nnx.List(layers))

    def extremes(x):
        if observer == "minmax":
            return jnp.min(x), jnp.max(x)
        return _percentile(x, 100.0 - percentile), _percentile(x, percentile)

    @jax.jit
    def ranges(state, x):
        modules = nnx.merge(graphdef, state)
        found = [extremes(x)]
        for layer, module in zip(stack.layers, modules):
            x = module(x)
            if layer.kind != "relu" and not layer.fused_relu or layer.kind == "relu":
                found.append(extremes(x))
        return found

    names = ["input"] + [layer.prefix for layer in stack.quantised]
    lo = {n: np.inf for n in names}
    hi = {n: -np.inf for n in names}
    sums = {n: [0.0, 0.0] for n in names}
    seen = 0
    for batch in batches:
        seen += 1
        for name, (a, b) in zip(names, ranges(state, jnp.asarray(batch))):
            lo[name], hi[name] = min(lo[name], float(a)), max(hi[name], float(b))
            sums[name][0] += float(a)
            sums[name][1] += float(b)
    if not seen:
        raise ValueError("calib: no calibration batches (the --calib folder gave no images)")
    if observer == "percentile":
        return {n: (sums[n][0] / seen, sums[n][1] / seen) for n in names}
    return {n: (lo[n], hi[n]) for n in names}


def float_weights(jm, stack: QuantStack) -> dict:
    """{file key: float32 array} of the stack's weights in PyTorch's layout (convs OIHW, transposed convs
    IOHW, biases, PReLU slopes): what a float layer of an int8 file holds."""
    out = {}
    for layer in stack.quantised:
        mod, p = submodule(jm, layer.prefix), layer.prefix
        w = np.asarray(mod.weight[...], np.float32)
        if layer.kind != "prelu":
            w = w.transpose(3, 2, 0, 1) if layer.kind == "conv" else w.transpose(2, 3, 0, 1)
            out[f"{p}.bias"] = np.asarray(mod.bias[...], np.float32)
        out[f"{p}.weight"] = np.ascontiguousarray(w)
    return out


def set_float_weights(jm, stack: QuantStack, floats: Mapping) -> None:
    """Put float weights in PyTorch's layout ({state-dict key: array}, as float_weights gives) into `jm`'s stack
    layers (in place): the inverse of float_weights."""
    for layer in stack.quantised:
        mod, p = submodule(jm, layer.prefix), layer.prefix
        w = np.asarray(floats[f"{p}.weight"], np.float32)
        if layer.kind != "prelu":
            w = w.transpose(2, 3, 1, 0) if layer.kind == "conv" else w.transpose(2, 3, 0, 1)
            mod.bias[...] = jnp.asarray(floats[f"{p}.bias"], jnp.float32)
        mod.weight[...] = jnp.asarray(np.ascontiguousarray(w), jnp.float32)


def channel_ranges(jm, stack: QuantStack, batches: Iterable) -> dict:
    """{layer prefix: (lo [C], hi [C]) float64} per channel of every stack layer's output in float model `jm`
    over `batches` ([B, H, W, C] float32), each module run alone in chain order (a conv with a fused ReLU:
    before the ReLU); torch_ref.quantize.channel_ranges computes the same."""
    from flax import nnx

    layers = [submodule(jm, layer.prefix) for layer in stack.layers]
    graphdef, state = nnx.split(nnx.List(layers))

    @jax.jit
    def ranges(state, x):
        found = []
        for module in nnx.merge(graphdef, state):
            x = module(x)
            found.append((jnp.min(x, axis=(0, 1, 2)), jnp.max(x, axis=(0, 1, 2))))
        return found

    lo, hi = {}, {}
    for batch in batches:
        for layer, (a, b) in zip(stack.layers, ranges(state, jnp.asarray(batch))):
            a, b, p = np.asarray(a, np.float64), np.asarray(b, np.float64), layer.prefix
            lo[p] = a if p not in lo else np.minimum(lo[p], a)
            hi[p] = b if p not in hi else np.maximum(hi[p], b)
    if not lo:
        raise ValueError("calib: no calibration batches (the --calib folder gave no images)")
    return {p: (lo[p], hi[p]) for p in lo}


def equalize(jm, stack: QuantStack, batches: Iterable, alpha: float) -> None:
    """Equalise float model `jm`'s activations in place (jrestore.core.quantize.equalize_activations, exponent
    `alpha`, per-channel ranges from `batches`): the same float function, as torch_ref.quantize.equalize."""
    from jrestore.core.quantize import equalize_activations

    new = equalize_activations(float_weights(jm, stack), stack, channel_ranges(jm, stack, list(batches)), alpha)
    set_float_weights(jm, stack, new)


def quantize_weights(jm, stack: QuantStack) -> dict:
    """{file key: array} of the float model's weights: convs int8 through AQT's quantiser (AbsMax per output
    channel; ConvTranspose2d per tensor), biases and PReLU slopes float32; float layers float32."""
    from aqt.jax.v2 import aqt_quantizer

    out = {}
    floats = float_weights(jm, stack)
    for layer in stack.quantised:
        mod, p = submodule(jm, layer.prefix), layer.prefix
        if layer.kind == "prelu" or not stack.is_int8(layer):  # PReLU: float in both frameworks (see core)
            out |= {k: v for k, v in floats.items() if k.startswith(p + ".")}
            continue
        kernel = jnp.asarray(mod.weight[...], jnp.float32)  # Conv2d HWIO [kh, kw, in, out]; transpose [kh, kw, in, out]
        quantizer = aqt_quantizer.quantizer_make(8)
        axes = [0, 1, 2] if layer.kind == "conv" else [0, 1, 2, 3]
        qt, _ = quantizer.quant(kernel, calibration_axes=axes)
        q = np.asarray(qt.qvalue).astype(np.int8)
        scale = np.asarray(qt.scale[0], np.float32).reshape(-1)
        out[f"{p}.weight"] = q.transpose(3, 2, 0, 1) if layer.kind == "conv" else q.transpose(2, 3, 0, 1)
        out[f"{p}.weight_scale"] = scale
        out[f"{p}.bias"] = np.asarray(mod.bias[...], np.float32)
    return out


def activation_tensors(stack: QuantStack, ranges: Mapping) -> dict:
    """{file key: array} of the activations' (scale, zero point) from calibrated (min, max) ranges."""
    out = {}
    for name, (lo, hi) in ranges.items():
        scale, zero_point = activation_qparams(lo, hi, stack.act_qmax)
        key = "input" if name == "input" else f"{name}.output"
        out[f"{key}.scale" if name == "input" else f"{key}_scale"] = np.array([scale], np.float32)
        out[f"{key}.zero_point" if name == "input" else f"{key}_zero_point"] = np.array([zero_point], np.int32)
    return out


def ptq(jm, stack: QuantStack, batches: Iterable, observer: str = "minmax",
        percentile: float = DEFAULT_PERCENTILE) -> dict:
    """Static post-training quantisation of float jrestore model `jm`: the int8 file's tensors (float layers
    of `stack` float32; activation ranges from `observer`, see calibrate_ranges)."""
    ranges = calibrate_ranges(jm, stack, batches, observer, percentile)
    return prune_tensors(stack, {**quantize_weights(jm, stack), **activation_tensors(stack, ranges)})


# ---- quantisation-aware training ----

def _aqt_dot_conv(x, kernel, lhs_scale, strides, padding, lhs_dilation, act_bits: int = 7,
                  per_tensor: bool = False):
    """A convolution as AQT's dot_general on image patches: int8 fake-quant of the kernel (AbsMax per output
    column = output channel, or over the whole kernel with `per_tensor`, as PyTorch quantises a
    ConvTranspose2d) and of the patches (static scale; act_bits + 1 symmetric bits, see _lhs_bits),
    straight-through gradients (AQT's own). A transposed convolution (lhs_dilation > 1) runs as its sub-pixel
    phases (`_phase_matrix`): the same integer products without the dilation's zeros."""
    from aqt.jax.v2 import calibration, config
    from aqt.jax.v2.numerics import utils as numerics_utils

    cfg = config.fully_quantized(fwd_bits=8, bwd_bits=None, use_stochastic_rounding=None,
                                 vjp_lhs_stochastic_rounding=False, vjp_rhs_stochastic_rounding=False)
    if act_bits != 7:  # 9-bit symmetric lhs numerics hold q - zp in [-255, 255]
        config.set_numerics(cfg.fwd, numerics_utils.get_numerics(_lhs_bits(act_bits)),
                            cfg.fwd.dg_quantizer.rhs.numerics)
    bound = 2.0 ** act_bits - 0.5  # AQT's scale = bound / (2^(bits-1) - 0.5): 127.5 (8 bits), 255.5 (9 bits)
    cfg.fwd.dg_quantizer.lhs.calibration = functools.partial(
        calibration.ConstantCalibration, bound=lhs_scale * bound)
    if per_tensor:
        cfg.fwd.dg_quantizer.rhs.calib_shared_axes = "per_tensor"
    dimension = (((3,), (0,)), ((), ()))
    if lhs_dilation is None or all(d == 1 for d in lhs_dilation):
        kh, kw, cin, cout = kernel.shape
        return cfg(_patches(x, (kh, kw), strides, padding), kernel.reshape(kh * kw * cin, cout), dimension)
    if tuple(strides) != (1, 1):
        raise ValueError(f"a transposed convolution runs with strides (1, 1), got {strides}")
    matrix, window, offsets = _phase_matrix(kernel, padding, lhs_dilation)
    (sh, sw), (b, h, w, _), cout = lhs_dilation, x.shape, kernel.shape[-1]
    out_h, out_w = ((n - 1) * s + 1 + lo + hi - k + 1 for n, s, (lo, hi), k in
                    zip((h, w), lhs_dilation, padding, kernel.shape[:2]))
    rows, cols = -(-out_h // sh), -(-out_w // sw)  # output pixels per phase
    # input pixel i + offset + u (u < window) for phase row i: pad (or crop) x so a VALID window gives it
    pads = [(-e, n - 1 + e + k - 1 - (size - 1)) for e, k, n, size in zip(offsets, window, (rows, cols), (h, w))]
    y = cfg(_patches(x, window, (1, 1), pads), matrix, dimension).reshape(b, rows, cols, sh, sw, cout)
    return y.transpose(0, 1, 3, 2, 4, 5).reshape(b, rows * sh, cols * sw, cout)[:, :out_h, :out_w]


def _phase_matrix(kernel, padding, lhs_dilation):
    """A transposed convolution (the forward kernel [kh, kw, cin, cout] of a lax convolution over the input
    dilated by s = lhs_dilation, with `padding`) as one matrix over undilated input windows: output pixel
    s * i + r (phase r) reads input pixel i + (r + t - lo) / s through tap t wherever s divides r + t - lo, so
    every phase is a small convolution of the input itself. Returns (matrix [wh * ww * cin, sh * sw * cout],
    rows in `_patches` order, zero where a phase has no tap; the window (wh, ww); the offset of its first
    input pixel per axis)."""
    kh, kw, cin, cout = kernel.shape
    axes = []
    for k, (lo, _), s in zip((kh, kw), padding, lhs_dilation):
        taps = [(r, t, (r + t - lo) // s) for r in range(s) for t in range(k) if (r + t - lo) % s == 0]
        first = min(e for _, _, e in taps)
        axes.append((taps, first, max(e for _, _, e in taps) - first + 1))
    (taps_h, first_h, wh), (taps_w, first_w, ww) = axes
    sh, sw = lhs_dilation
    # per (window row, window col, phase row, phase col): the tap's row t * kw + u, or kh * kw, the zero row
    index = np.full((wh, ww, sh, sw), kh * kw, np.int32)
    for r, t, e in taps_h:
        for q, u, f in taps_w:
            index[e - first_h, f - first_w, r, q] = t * kw + u
    tap_rows = jnp.concatenate([kernel.reshape(kh * kw, cin, cout), jnp.zeros((1, cin, cout), kernel.dtype)])
    matrix = tap_rows[index]  # [wh, ww, sh, sw, cin, cout]
    matrix = matrix.transpose(0, 1, 4, 2, 3, 5).reshape(wh * ww * cin, sh * sw * cout)
    return matrix, (wh, ww), (first_h, first_w)


def _patches(x, window, strides, padding):
    """im2col by slicing: x [B, H, W, C], padding ((lo, hi), (lo, hi)) (negative crops) -> [B, H', W',
    kh * kw * C], features ordered (window row, window column, channel) as an HWIO kernel's rows.
    lax.conv_general_dilated_patches convolves with a one-hot kernel instead: (kh kw C)^2 / C multiply-adds
    per output pixel, 9x the 3x3x64 convolution's own, and as much again for its gradient."""
    (kh, kw), (sh, sw) = window, strides
    x = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in padding] + [(0, 0, 0)])
    rows, cols = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    return jnp.concatenate([x[:, i:i + (rows - 1) * sh + 1:sh, j:j + (cols - 1) * sw + 1:sw]
                            for i in range(kh) for j in range(kw)], axis=-1)


# PyTorch's QAT activation observer (torch.ao's MovingAverageMinMaxObserver, the observer of the FakeQuantize in
# torch_ref.quantize.qconfig_mapping(training=True)): min / max move towards each batch's by this fraction.
QAT_AVERAGING_CONSTANT = 0.01
QAT_RANGE_INITS = ("first_step", "calibration")


def _ema_range(previous: jax.Array, observed: jax.Array, averaging_constant: float) -> jax.Array:
    """One MovingAverageMinMaxObserver update: previous [2] (min, max) float32, (+inf, -inf) before the first
    observation, observed [2] this batch's (min, max). The first observation is taken as it is; later ones move
    the range by `averaging_constant` of the way: r + c * (observed - r), in float32 as torch computes it."""
    fresh = jnp.isposinf(previous[0]) & jnp.isneginf(previous[1])
    moved = previous + jnp.float32(averaging_constant) * (observed - previous)
    return jnp.where(fresh, observed, moved)


def _range_qparams(lo_hi: jax.Array, qmax: int = ACT_QMAX) -> tuple[jax.Array, jax.Array]:
    """(scale, zero point) of a (min, max) range [2] float32: jrestore.core.quantize.activation_qparams (PyTorch's
    observer formula) in jnp, traceable, so the training step recomputes them from the moving range."""
    lo, hi = jnp.minimum(lo_hi[0], 0.0), jnp.maximum(lo_hi[1], 0.0)
    scale = jnp.maximum((hi - lo) / jnp.float32(qmax - ACT_QMIN), jnp.finfo(jnp.float32).eps)
    zero_point = jnp.clip(ACT_QMIN - jnp.round(lo / scale).astype(jnp.int32), ACT_QMIN, qmax)
    return scale, zero_point


def _fake_quantize_masked(x, scale, zero_point, qmax: int = ACT_QMAX):
    """x on the uint8 grid of (scale, zero point) with PyTorch's fake-quant gradient: straight through where
    round(x / scale) + zp lies in [ACT_QMIN, qmax], zero where the value was clipped (torch's
    fake_quantize_per_tensor_affine backward)."""
    q = jnp.round(x / scale) + zero_point
    inside = (q >= ACT_QMIN) & (q <= qmax)
    y = scale * (jnp.clip(q, ACT_QMIN, qmax) - zero_point).astype(x.dtype)
    through = jnp.where(inside, x, lax.stop_gradient(x))
    return through + lax.stop_gradient(y - through)


def qat_observed_apply(stack: QuantStack, jm_layers, ranges: jax.Array, geometry: Mapping, x: jax.Array,
                       averaging_constant: float) -> tuple[jax.Array, jax.Array]:
    """The fake-quantised model of one QAT training step, with PyTorch's FakeQuantize order at every
    quantisation point (stack.points: the input of every int8 convolution and its output after the fused ReLU,
    a PReLU's output an int8 conv reads): observe the float value's min / max, move that point's range
    (`_ema_range`), compute its (scale, zero point) from the new range, then fake-quantise with them. Float
    layers (stack.float_layers) run as float32 convolutions, as torch's prepare_qat_fx leaves a module whose
    qconfig is None. x [B, H, W, C] float32; ranges [P, 2] float32 (min, max) per point in stack.points order,
    (+inf, -inf) where nothing was observed yet. Returns (the output [B, H', W', C'], the updated ranges
    [P, 2]). Int8 convolutions are AQT dot_generals (`_aqt_dot_conv`); the output quantisations have torch's
    masked straight-through gradient."""
    points = stack.points
    qmax = stack.act_qmax
    updated = []

    def observe(h):
        seen = lax.stop_gradient(jnp.stack([jnp.min(h), jnp.max(h)]))
        updated.append(_ema_range(ranges[len(updated)], seen, averaging_constant))
        return _range_qparams(updated[-1], qmax)

    scale, zero_point = observe(x) if "input" in points else (None, None)
    h = x
    for layer, mod in zip(stack.layers, jm_layers):
        if layer.kind == "relu":
            continue
        if layer.kind == "prelu":
            h = mod(h)
        else:
            kernel = mod.weight[...]
            if layer.kind == "conv_transpose":
                kernel = kernel[::-1, ::-1]
            if stack.is_int8(layer):  # its input is a point, so scale / zero_point are that point's
                strides, padding, lhs_dilation = geometry[layer.prefix]
                h = _aqt_dot_conv(_clip_to_range(h, scale, zero_point, qmax), kernel, scale, strides, padding,
                                  lhs_dilation, stack.act_bits,
                                  per_tensor=layer.kind == "conv_transpose") + mod.bias[...]
            else:
                h = _float_conv(h, kernel, geometry[layer.prefix]) + mod.bias[...]
            if layer.fused_relu:
                h = jax.nn.relu(h)
        if layer.prefix in points:
            scale, zero_point = observe(h)
            h = _fake_quantize_masked(h, scale, zero_point, qmax)
    return (x - h if stack.residual else h), jnp.stack(updated)


def _with_fake_quantised_weights(jm, stack: QuantStack):
    """A copy of float model `jm` whose int8 convolutions hold their AQT int8 weights dequantised (q * scale):
    the model torch's QAT calibration runs (weight fake-quant on, activation fake-quant off)."""
    from flax import nnx

    twin = nnx.clone(jm)
    tensors = quantize_weights(jm, stack)
    for layer in stack.quantised:
        if not stack.is_int8(layer):
            continue
        p = layer.prefix
        scale = tensors[f"{p}.weight_scale"].astype(np.float32)
        q = tensors[f"{p}.weight"].astype(np.float32)
        if layer.kind == "conv":  # OIHW, one scale per output channel -> HWIO
            kernel = (q * scale.reshape(-1, 1, 1, 1)).transpose(2, 3, 1, 0)
        else:  # IOHW, one scale -> [kh, kw, in, out] (the transpose (2, 3, 0, 1) is its own inverse)
            kernel = (q * scale.reshape(-1)[0]).transpose(2, 3, 0, 1)
        submodule(twin, p).weight[...] = jnp.asarray(kernel, jnp.float32)
    return twin


def tie_pairs(stack: QuantStack, params):
    """The QAT parameters (nnx.State of the stack's layers, by chain index) with each paired layer's
    (QuantStack.paired_outputs) (c, -c) output channels tied again after an optimiser step: the first half
    (first - second) / 2, the second its negation (torch_ref.quantize.qat does the same), so the file can store
    one half (jrestore.core.quantize.fold_pairs). Kernels are HWIO: output channels last."""
    paired = {i for i, layer in enumerate(stack.layers) if layer.prefix in stack.paired_outputs}

    def tie(path, v):
        if path[0].key not in paired:
            return v
        half = v.shape[-1] // 2
        first = (v[..., :half] - v[..., half:]) / 2
        return jnp.concatenate([first, -first], axis=-1)
    return jax.tree_util.tree_map_with_path(tie, params) if paired else params


def qat(jm, stack: QuantStack, kwargs: Mapping, calib_batches: Iterable, train_pairs, *, steps: int,
        lr: float = 1e-5, on_step=None, averaging_constant: float | None = None, range_init: str | None = None,
        observer: str = "minmax", percentile: float = DEFAULT_PERCENTILE, lr_schedule: str = "constant",
        target: str = "data", freeze_ranges_after: int = 0) -> dict:
    """Quantisation-aware fine-tuning of float model `jm` (changed in place): `steps` Adam steps of MSE through
    AQT fake-quant convolutions on (input, target) pairs from the iterable `train_pairs` (cycled), then the int8
    file's tensors. `stack.float_layers` train and are written in float32; `stack.paired_outputs` (FSRCNN
    prelu_split) are tied again after every step (tie_pairs).

    observer 'minmax' (torch's QAT default): the activation ranges move as PyTorch's QAT observers move them
    (MovingAverageMinMaxObserver): every step observes each quantisation point's min / max on the batch before
    fake-quantising it and moves the range by `averaging_constant` (None: torch's 0.01) towards them; the file
    gets the final ranges. `range_init`: 'first_step' (None; torch's prepare_qat_fx: the first batch's
    min / max, `calib_batches` unused) or 'calibration' (PTQ's min / max over `calib_batches`, then the moving
    average); averaging_constant 0 with 'calibration' keeps the calibrated ranges fixed.
    observer 'percentile': as torch_ref.quantize.qat, the ranges are calibrated once on `calib_batches` (the
    model with fake-quantised weights and float activations, per-batch percentiles averaged) and then frozen;
    range_init must be None or 'calibration', averaging_constant None or 0. 'histogram' (PyTorch's
    HistogramObserver) is not mirrored: ValueError (QAT with it: torch_ref.quantize.qat).
    lr_schedule 'constant' or 'cosine' (optax.cosine_decay_schedule(lr, steps): step k at lr (1 + cos(pi k /
    steps)) / 2, as torch's CosineAnnealingLR stepped after each step); target 'data' (the pair's target) or
    'teacher' (the float model's own output on the pair's input, computed with the weights `jm` holds when
    QAT starts), as torch_ref.quantize.qat. freeze_ranges_after K > 0: the activation ranges stop moving after
    K steps (torch's disable_observer on the activations' FakeQuantize), so the last steps train on the grid
    the file gets; 0: they move to the end."""
    import optax
    from flax import nnx

    check_qat_options(lr_schedule, target, freeze_ranges_after)

    if observer not in ("minmax", "percentile"):
        raise ValueError(f"observer: JAX QAT supports 'minmax' (moving ranges) and 'percentile' (calibrated, "
                         f"then frozen); {observer!r} is not mirrored in JAX (QAT with it: --framework torch)")
    if observer == "percentile":
        if range_init not in (None, "calibration"):
            raise ValueError(f"range_init: the percentile observer calibrates its ranges on calib_batches; "
                             f"expected None or 'calibration', got {range_init!r}")
        if averaging_constant not in (None, 0, 0.0):
            raise ValueError(f"averaging_constant: the percentile observer's ranges are frozen after "
                             f"calibration; expected None or 0, got {averaging_constant}")
        range_init, averaging_constant = "calibration", 0.0
    range_init = "first_step" if range_init is None else range_init
    averaging_constant = QAT_AVERAGING_CONSTANT if averaging_constant is None else averaging_constant
    if range_init not in QAT_RANGE_INITS:
        raise ValueError(f"range_init: expected one of {list(QAT_RANGE_INITS)}, got {range_init!r}")
    if not 0.0 <= averaging_constant <= 1.0:
        raise ValueError(f"averaging_constant: expected a fraction in [0, 1], got {averaging_constant}")
    names = list(stack.points)
    if range_init == "calibration":
        source = jm if observer == "minmax" else _with_fake_quantised_weights(jm, stack)
        calibrated = calibrate_ranges(source, stack, calib_batches, observer, percentile)
        ranges = jnp.asarray([calibrated[n] for n in names], jnp.float32)
    else:
        ranges = jnp.tile(jnp.asarray([[np.inf, -np.inf]], jnp.float32), (len(names), 1))
    geometry = _conv_geometry(stack, kwargs, None)
    layers = nnx.List([submodule(jm, layer.prefix) for layer in stack.layers])
    graphdef, params = nnx.split(layers, nnx.Param)
    teacher_params = jax.tree.map(jnp.copy, params)  # the float model as QAT starts (--qat-target teacher)
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps) if lr_schedule == "cosine" else lr)
    opt_state = optimizer.init(params)

    def float_apply(params, x):
        h = x
        for module in nnx.merge(graphdef, params):
            h = module(h)
        return x - h if stack.residual else h

    @jax.jit
    def train_step(params, opt_state, ranges, x, wanted, moving):
        if target == "teacher":
            wanted = lax.stop_gradient(float_apply(teacher_params, x))

        def loss_fn(params):
            out, moved = qat_observed_apply(stack, nnx.merge(graphdef, params), ranges, geometry, x,
                                            jnp.where(moving, jnp.float32(averaging_constant), 0.0))
            return jnp.mean((out - wanted) ** 2), moved
        (loss, ranges), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return tie_pairs(stack, optax.apply_updates(params, updates)), opt_state, ranges, loss

    step = 0
    while step < steps:
        progressed = False
        for x, pair_target in train_pairs:
            moving = freeze_ranges_after == 0 or step < freeze_ranges_after
            params, opt_state, ranges, loss = train_step(params, opt_state, ranges, jnp.asarray(x),
                                                         jnp.asarray(pair_target), moving)
            step += 1
            progressed = True
            if on_step is not None:
                on_step(step, float(loss))
            if step >= steps:
                break
        if not progressed:
            raise ValueError("calib: no training batches (the --calib folder gave no images)")
    nnx.update(layers, params)
    final = np.asarray(ranges, np.float64)
    return prune_tensors(stack, {**quantize_weights(jm, stack), **activation_tensors(
        stack, {n: (float(lo), float(hi)) for n, (lo, hi) in zip(names, final)})})
