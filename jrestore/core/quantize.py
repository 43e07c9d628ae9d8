"""INT8 models, framework-neutral part: which layers are quantised, the shared scheme, and the int8 file.

`jrestore quantize` (PTQ or QAT, in JAX with Google's AQT or in PyTorch with torch.ao.quantization) writes an
*int8 file*: safetensors holding int8 weights with their scales, the activations' calibrated quantisation
parameters, and metadata. Both frameworks run the same file (jrestore.quantize: AQT int8 convolutions;
torch_ref.quantize: a `convert_fx` module with the file's integers put in), so their outputs agree to a
quantisation level or so (jrestore.parity.tolerances.INT8_*). This module imports neither JAX nor PyTorch.

The scheme is PyTorch's x86 (fbgemm) static INT8, because that is what PyTorch's converted modules run:

    weights      int8, symmetric (zero point 0), one scale per output channel, scale = max|w| / 127.5
                 (PerChannelMinMaxObserver, per_channel_symmetric). ConvTranspose2d: one scale for the tensor
                 (fbgemm's quantised ConvTranspose2d takes per-tensor weights only). PReLU: float (its
                 slopes float32; torch 2.13's QuantizedPReLU is wrong, see torch_ref.quantize.FloatPReLU).
    activations  uint8 affine with a zero point, levels 0..127 (`reduce_range`, 7 bits, the default): fbgemm's
                 AVX2 kernel adds u8 x s8 products pairwise in int16 with saturation (vpmaddubsw), so 8-bit
                 activations give CPU-dependent results on machines without AVX-512 VNNI; 7-bit ones never
                 saturate. `--activation-bits 8` (QuantStack.act_bits, metadata 'activation_bits', read as 7
                 when absent): levels 0..255, run by PyTorch's qnnpack engine, which accumulates in int32 on
                 every x86 CPU (measured exact with and without VNNI; fbgemm / x86 / oneDNN are not without
                 it). The range comes from the calibration images through an observer (OBSERVERS: min / max by
                 default, or percentiles, or PyTorch's histogram search), recorded in the metadata.
    where        the stack's input, then every Conv2d / ConvTranspose2d output (after the ReLU fused into
                 it) and every PReLU output: the points where PyTorch's converted graph holds quint8 tensors.
    float layers (mixed precision, QuantStack.float_layers, metadata 'float_layers'): named convolutions stay
                 float32; an activation is quantised only where an int8 convolution reads or writes it
                 (QuantStack.points), as PyTorch's FX graph does with those modules' qconfig set to None.

Which part of a model is quantised (`quant_stack`): a flat chain of Conv2d / ConvTranspose2d / ReLU / PReLU
modules, named by their state-dict prefixes (the same paths in both frameworks). DnCNN's residual
`x - model(x)` stays float: the noisy input is subtracted at full precision (quantising x on the skip path
would add its own rounding to every output pixel). Supported: `dncnn` (variant 'plain', act_mode 'R', i.e. BN
folded as the official checkpoints are) and `fsrcnn` (any d, s, m, scale; prelu_split too).

File layout (`save_int8_file` / `read_int8_file`), keys by the stack's state-dict prefixes:

    input.scale [1] float32, input.zero_point [1] int32          the stack input's quantisation
    P.weight int8 (PyTorch layout), P.weight_scale [C or 1] float32, P.bias float32     Conv2d / ConvTranspose2d
    P.weight float32 [C]                                                                 PReLU slopes
    P.output_scale [1] float32, P.output_zero_point [1] int32     each conv (ReLU fused) and PReLU output

A paired layer (QuantStack.paired_outputs: FSRCNN prelu_split, whose convolutions output c and -c) stores only
the first half of its output channels: the second half's weights and biases are their negation, its scales the
same (`save_int8_file` checks it, `read_int8_file` restores the full tensors).

metadata: format (INT8_FORMAT), model, kwargs, method ('ptq' | 'qat'), framework (which one calibrated or
trained), activation_bits (7 | 8; absent = 7), scheme, calibration (folder, images, patches, seed, QAT
steps...), float_weights, and the float and int8 PSNRs measured when the file was written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from jrestore.core.model_file import read_metadata, recorded_kwargs

__all__ = ["INT8_FORMAT", "ACT_QMIN", "ACT_QMAX", "WEIGHT_BOUND", "METHODS", "StackLayer", "QuantStack",
           "quant_stack", "activation_qparams", "fake_quantize_np", "is_int8_file", "save_int8_file", "read_int8_file",
           "check_int8_tensors", "SCHEME", "OBSERVERS", "DEFAULT_PERCENTILE", "percentile_np", "prune_tensors",
           "compose_tensors", "ACTIVATION_BITS", "scheme", "equalize_activations", "equalize_scales",
           "LR_SCHEDULES", "QAT_TARGETS", "check_qat_options", "fold_pairs", "unfold_pairs"]

INT8_FORMAT = "jrestore-int8-v1"
ACT_QMIN, ACT_QMAX = 0, 127  # quint8 with reduce_range (see the module docstring: fbgemm's int16 saturation)
ACTIVATION_BITS = (7, 8)  # `--activation-bits`: 7 (levels 0..127, the default) or 8 (0..255, qnnpack in PyTorch)
WEIGHT_BOUND = 127.5  # symmetric per-channel scale = max|w| / 127.5 (torch's per_channel_symmetric; AQT's int8 bound)
METHODS = ("ptq", "qat")
# Activation range observers (`jrestore quantize --observer`): 'minmax' the extremes seen (MinMaxObserver);
# 'percentile' per calibration batch the (100 - p)-th and p-th percentiles, averaged over the batches (clips
# the rare outliers that stretch a 7-bit range; TensorRT's and NVIDIA pytorch-quantization's percentile
# calibrators use 99.99 by default); 'histogram' PyTorch's HistogramObserver (its L2 search over a histogram;
# not mirrored in JAX: the file stores the chosen scales, which is what both frameworks run).
OBSERVERS = ("minmax", "percentile", "histogram")
DEFAULT_PERCENTILE = 99.99
LR_SCHEDULES = ("constant", "cosine")  # QAT's `--lr-schedule`
QAT_TARGETS = ("data", "teacher")  # `--qat-target`: the pair's target, or the float model's own output
SCHEME = {"weights": "int8 symmetric, per output channel (ConvTranspose2d: per tensor), scale max|w|/127.5",
          "prelu": "float32 slopes, output uint8",
          "activations": "uint8 affine, levels 0..127 (reduce_range), calibrated by metadata calibration.observer",
          "backend": "PyTorch x86 (fbgemm) static int8; JAX: AQT int8 convolutions with the same integers"}
_EPS32 = float(np.finfo(np.float32).eps)


def scheme(act_bits: int = 7) -> dict:
    """The metadata 'scheme' of a file with `act_bits`-bit activations (SCHEME for 7)."""
    if act_bits == 7:
        return SCHEME
    return {**SCHEME, "activations": f"uint8 affine, levels 0..{2 ** act_bits - 1}, calibrated by metadata "
            "calibration.observer", "backend": "PyTorch qnnpack static int8 (int32 accumulation on any x86 CPU); "
            "JAX: AQT int8 convolutions with the same integers (9-bit symmetric activation numerics)"}


@dataclass(frozen=True)
class StackLayer:
    """One module of the quantised chain: its state-dict prefix and kind ('conv' | 'conv_transpose' |
    'relu' | 'prelu'); `fused_relu` marks a conv whose following ReLU PyTorch fuses into it."""

    prefix: str
    kind: str
    fused_relu: bool = False


@dataclass(frozen=True)
class QuantStack:
    """The quantised part of a model: `layers` in call order; `residual`: output = x - stack(x) (DnCNN);
    `float_layers`: the convolutions kept in float (mixed precision, `--float-layers`), by prefix;
    `paired_outputs`: the convolutions whose output channels come in pairs (c, -c): rows C.. of the weights and
    bias are the negated rows ..C (FSRCNN prelu_split); PTQ and QAT keep them so and the file stores one half."""

    model: str
    layers: tuple
    residual: bool
    float_layers: tuple = ()
    act_bits: int = 7
    paired_outputs: tuple = ()

    def __post_init__(self):
        for layer, after in zip(self.layers, self.layers[1:] + (None,)):
            follows = after is not None and after.kind == "relu"
            if layer.kind in ("conv", "conv_transpose") and layer.fused_relu != follows:
                raise ValueError(f"QuantStack {self.model}: {layer.prefix} has fused_relu={layer.fused_relu} but is "
                                 f"{'' if follows else 'not '}followed by a ReLU (the int8 graph fuses conv + ReLU)")

    @property
    def act_qmax(self) -> int:
        """The activations' highest level: 127 (7 bits) or 255 (8 bits); the lowest is ACT_QMIN = 0."""
        return 2 ** self.act_bits - 1

    def with_activation_bits(self, bits: int) -> "QuantStack":
        """This stack with `bits`-bit activations (ACTIVATION_BITS); ValueError naming --activation-bits."""
        if bits not in ACTIVATION_BITS:
            raise ValueError(f"--activation-bits: expected one of {list(ACTIVATION_BITS)}, got {bits!r}")
        return replace(self, act_bits=int(bits))

    @property
    def quantised(self) -> tuple:
        """The layers that carry weights and an output quantisation (convs and PReLUs; ReLUs are fused)."""
        return tuple(layer for layer in self.layers if layer.kind != "relu")

    @property
    def convs(self) -> tuple:
        """The prefixes of the convolutions (Conv2d / ConvTranspose2d): the layers that can run int8 or float."""
        return tuple(layer.prefix for layer in self.layers if layer.kind in ("conv", "conv_transpose"))

    def is_int8(self, layer: StackLayer) -> bool:
        """True for a convolution that runs int8 (not a PReLU, ReLU or a float layer)."""
        return layer.kind in ("conv", "conv_transpose") and layer.prefix not in self.float_layers

    def with_float_layers(self, names) -> "QuantStack":
        """This stack with the convolutions `names` (prefixes) kept in float; ValueError naming an unknown one."""
        names = tuple(dict.fromkeys(names))
        for name in names:
            if name not in self.convs:
                raise ValueError(f"--float-layers: {name!r} is not a convolution of the {self.model} int8 chain; "
                                 f"expected names from {list(self.convs)}")
        return replace(self, float_layers=tuple(p for p in self.convs if p in names))

    @property
    def points(self) -> tuple:
        """The quantisation points the int8 graph holds, 'input' or a layer prefix (its output): the input of
        every int8 convolution (the stack input, or the output of the layer before it) and the output of
        every int8 convolution. A float layer feeding a float layer (or ending the chain) stays float."""
        quantised = self.quantised
        out = []
        for i, layer in enumerate(quantised):
            if self.is_int8(layer):
                before = "input" if i == 0 else quantised[i - 1].prefix
                out += [before, layer.prefix]
        return tuple(dict.fromkeys(name for name in ["input"] + [layer.prefix for layer in quantised]
                                   if name in out))


def quant_stack(model: str, kwargs: Mapping) -> QuantStack:
    """The chain `jrestore quantize` quantises in `model` built with `kwargs` (its spec's quant_stack); ValueError
    for other models or options, naming what is supported."""
    from jrestore.core.spec import all_specs

    specs = all_specs()
    supported = sorted(name for name, s in specs.items() if s.quant_stack is not None)
    spec = specs.get(model)
    if spec is None or spec.quant_stack is None:
        raise ValueError(f"--model: int8 quantisation supports {supported}, got {model!r}")
    return spec.quant_stack(dict(kwargs))


def activation_qparams(lo: float, hi: float, qmax: int = ACT_QMAX) -> tuple[float, int]:
    """(scale, zero point) of a uint8 affine tensor with levels ACT_QMIN..qmax (127: 7 bits, 255: 8 bits)
    covering [lo, hi] (and 0): PyTorch's MinMaxObserver formula (float32 arithmetic, round half to even), so a
    range calibrated in JAX gives the parameters PyTorch's observer would."""
    lo32, hi32 = np.float32(min(lo, 0.0)), np.float32(max(hi, 0.0))
    scale = np.float32((hi32 - lo32) / np.float32(qmax - ACT_QMIN))
    scale = max(scale, np.float32(_EPS32))
    zero_point = ACT_QMIN - int(np.round(lo32 / scale))
    return float(scale), int(min(max(zero_point, ACT_QMIN), qmax))


def fake_quantize_np(x: np.ndarray, scale: float, zero_point: int, qmax: int = ACT_QMAX) -> np.ndarray:
    """x on the uint8 grid of (scale, zero point): scale * (clip(round(x / scale) + zp, 0, qmax) - zp) (NumPy
    reference of what both frameworks compute at every quantisation point)."""
    q = np.clip(np.round(np.asarray(x, np.float32) / np.float32(scale)) + zero_point, ACT_QMIN, qmax)
    return (np.float32(scale) * (q - zero_point)).astype(np.float32)


def percentile_np(x: np.ndarray, q: float) -> float:
    """NumPy reference of the percentile observers: the q-th percentile of all of x, NumPy's default linear
    interpolation between order statistics, in float64."""
    return float(np.percentile(np.asarray(x, np.float64).reshape(-1), q))


def _equalize_triples(stack: QuantStack) -> list:
    """(producer conv, activation, consumer conv) layer triples of `stack`: a Conv2d, its PReLU or ReLU, the
    next Conv2d / ConvTranspose2d (an activation positively homogeneous per channel between two convs)."""
    layers, out = stack.layers, []
    for i in range(len(layers) - 2):
        if (layers[i].kind == "conv" and layers[i + 1].kind in ("prelu", "relu")
                and layers[i + 2].kind in ("conv", "conv_transpose")):
            out.append((layers[i], layers[i + 1], layers[i + 2]))
    return out


def equalize_scales(stack: QuantStack, channel_ranges: Mapping, alpha: float) -> dict:
    """{activation prefix: s [C] float64} of activation equalisation (`--equalize ALPHA`): for every triple of
    _equalize_triples, channel c of the middle activation is scaled by s_c = (R / r_c)^alpha, r_c the
    channel's range (max - min over the calibration batches) of the producer's output or of the activation's
    output, whichever is wider, R the widest channel's. channel_ranges: {layer prefix: (lo [C], hi [C])} of
    every layer's output in the float model (a fused ReLU's conv: before the ReLU)."""
    if not alpha > 0:
        raise ValueError(f"--equalize: expected an exponent alpha > 0 (e.g. 0.5), got {alpha}")
    out = {}
    for producer, activation, _ in _equalize_triples(stack):
        widths = [np.asarray(channel_ranges[layer.prefix][1], np.float64)
                  - np.asarray(channel_ranges[layer.prefix][0], np.float64) for layer in (producer, activation)]
        r = np.maximum(np.maximum(*widths), 1e-8)
        if producer.prefix in stack.paired_outputs:  # c and -c share one scale, so the pair stays a pair
            r = np.tile(np.maximum(r[:r.size // 2], r[r.size // 2:]), 2)
        out[activation.prefix] = (r.max() / r) ** alpha
    return out


def equalize_activations(floats: Mapping, stack: QuantStack, channel_ranges: Mapping, alpha: float) -> dict:
    """Activation equalisation (cross-layer range equalisation of the activations, as in Nagel et al. 2019 and
    SmoothQuant's alpha), exact in float: the float weights `floats` ({state-dict key: array}, PyTorch's layout,
    as jrestore.quantize.float_weights gives) with, for every conv -> PReLU / ReLU -> conv triple, the
    producer's output channel c (weight row, bias) times s_c and the consumer's input channel c divided by s_c
    (equalize_scales). PReLU and ReLU are positively homogeneous per channel (f(s x) = s f(x), s > 0), so the
    model computes the same function, while the narrow channels of the middle activation widen towards the
    widest and use more of the shared per-tensor uint8 grid. Returns a new dict (float32, same keys)."""
    scales = equalize_scales(stack, channel_ranges, alpha)
    out = {k: np.array(v, np.float32, copy=True) for k, v in floats.items()}
    for producer, activation, consumer in _equalize_triples(stack):
        s = scales[activation.prefix]
        p, c = producer.prefix, consumer.prefix
        out[f"{p}.weight"] = (out[f"{p}.weight"] * s.reshape(-1, 1, 1, 1)).astype(np.float32)  # OIHW: O
        out[f"{p}.bias"] = (out[f"{p}.bias"] * s).astype(np.float32)
        axis_shape = (1, -1, 1, 1) if consumer.kind == "conv" else (-1, 1, 1, 1)  # OIHW: I; IOHW (transpose): I
        out[f"{c}.weight"] = (out[f"{c}.weight"] / s.reshape(axis_shape)).astype(np.float32)
    return out


def prune_tensors(stack: QuantStack, tensors: Mapping) -> dict:
    """The tensors an int8 file of `stack` holds: activation parameters only at `stack.points` (a calibration
    gives them at every point; a float layer's output feeding a float layer stays float)."""
    points = set(stack.points)
    out = {}
    for key, value in tensors.items():
        point = "input" if key.startswith("input.") else key[:-len(".output_scale")] if key.endswith(
            ".output_scale") else key[:-len(".output_zero_point")] if key.endswith(".output_zero_point") else None
        if point is None or point in points:
            out[key] = value
    return out


def compose_tensors(stack: QuantStack, int8_tensors: Mapping, float_tensors: Mapping) -> dict:
    """An int8 file's tensors for `stack` (with its float layers) from the all-int8 tensors of the same model
    (every activation point calibrated) and the float model's weights in PyTorch's layout: how the
    sensitivity analysis builds each one-layer-int8 model without calibrating again."""
    out = {}
    for layer in stack.quantised:
        p = layer.prefix
        source = int8_tensors if stack.is_int8(layer) or layer.kind == "prelu" else float_tensors
        out |= {k: v for k, v in source.items() if k.startswith(p + ".") and ".output_" not in k}
    out |= {k: v for k, v in int8_tensors.items() if k.startswith("input.") or ".output_" in k}
    return prune_tensors(stack, out)


def is_int8_file(path) -> bool:
    """True for a safetensors file whose metadata says it is a jrestore int8 model (other files: False)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return False
    try:
        return read_metadata(path).get("format") == INT8_FORMAT
    except ValueError:
        return False


def check_qat_options(lr_schedule: str, target: str, freeze_ranges_after: int) -> None:
    """One ValueError, named by the command-line flag, for a QAT setting both frameworks' qat refuse."""
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"--lr-schedule: expected one of {list(LR_SCHEDULES)}, got {lr_schedule!r}")
    if target not in QAT_TARGETS:
        raise ValueError(f"--qat-target: expected one of {list(QAT_TARGETS)}, got {target!r}")
    if freeze_ranges_after < 0:
        raise ValueError(f"--freeze-ranges-after: expected a step count >= 0 (0: never), got {freeze_ranges_after}")


def check_int8_tensors(stack: QuantStack, tensors: Mapping, source: str) -> None:
    """ValueError naming the first missing key or wrong dtype of an int8 file's tensors for `stack`."""
    want = {}
    for point in stack.points:
        key = "input." if point == "input" else f"{point}.output_"
        want |= {f"{key}scale": np.float32, f"{key}zero_point": np.int32}
    for layer in stack.quantised:
        p = layer.prefix
        if layer.kind == "prelu":
            want |= {f"{p}.weight": np.float32}
        elif stack.is_int8(layer):
            want |= {f"{p}.weight": np.int8, f"{p}.weight_scale": np.float32, f"{p}.bias": np.float32}
        else:  # a float layer (--float-layers): float32 weights in PyTorch's layout
            want |= {f"{p}.weight": np.float32, f"{p}.bias": np.float32}
    for key in (k for k in want if k.endswith("zero_point") and k in tensors):
        zero_point = int(np.asarray(tensors[key]).reshape(-1)[0])
        if not ACT_QMIN <= zero_point <= stack.act_qmax:
            raise ValueError(f"--weights: {source}: {key} is {zero_point}, outside the {stack.act_bits}-bit "
                             f"activation levels {ACT_QMIN}..{stack.act_qmax}")
    for key, dtype in want.items():
        if key not in tensors:
            raise ValueError(f"--weights: {source} is not a complete int8 {stack.model} file: no tensor {key!r}")
        if np.asarray(tensors[key]).dtype != dtype:
            raise ValueError(f"--weights: {source}: {key} is {np.asarray(tensors[key]).dtype}, expected "
                             f"{np.dtype(dtype).name}")


_PAIRED_KEYS = {"weight": -1, "bias": -1, "weight_scale": 1}  # the second half: negated, or the same


def _partner(v: np.ndarray, sign: int) -> np.ndarray:
    """The second half of a pair from the first: sign * v; int8 weights clipped to -128..127 (-(-128) = 127)."""
    if v.dtype == np.int8:
        return np.clip(sign * v.astype(np.int16), -128, 127).astype(np.int8)
    return (sign * v).astype(v.dtype)


def fold_pairs(stack: QuantStack, tensors: Mapping, source: str = "--out") -> dict:
    """`tensors` with each paired layer's (QuantStack.paired_outputs) second half of output channels dropped;
    ValueError naming the layer if that half is not the first's negation (weights, biases) or copy (scales).
    The one tolerated difference: torch's int8 range -128..127 is asymmetric, so a channel's extreme weight
    w / scale = +127.5 rounds to 128 and clips to 127 while its partner -127.5 keeps -128; the file (and
    `unfold_pairs`) then holds -127 there, one level, at most one weight per channel."""
    out = dict(tensors)
    for p in stack.paired_outputs:
        for name, sign in _PAIRED_KEYS.items():
            key = f"{p}.{name}"
            if key not in tensors:
                continue
            v = np.asarray(tensors[key])
            half = v.shape[0] // 2
            first, second = v[:half], v[half:]
            tied = v.shape[0] % 2 == 0
            if tied:
                match = second == _partner(first, sign)
                if v.dtype == np.int8:
                    match |= (first == 127) & (second == -128)  # torch's clipped +127.5 (above)
                tied = bool(np.all(match))
            if not tied:
                raise ValueError(f"{source}: {key}: the (c, -c) channel pairs of {p} are not tied (rows {half}.. "
                                 f"must be {'-' if sign < 0 else ''}rows ..{half}); jrestore quantize keeps them so")
            out[key] = first
    return out


def unfold_pairs(stack: QuantStack, tensors: Mapping) -> dict:
    """The full tensors of a file `fold_pairs` wrote: each paired layer's second half restored."""
    out = dict(tensors)
    for p in stack.paired_outputs:
        for name, sign in _PAIRED_KEYS.items():
            key = f"{p}.{name}"
            if key in tensors:
                v = np.asarray(tensors[key])
                out[key] = np.concatenate([v, _partner(v, sign)])
    return out


def save_int8_file(path, tensors: Mapping[str, np.ndarray], *, model: str, kwargs: Mapping, method: str,
                   framework: str, float_layers=(), activation_bits: int = 7, **metadata) -> Path:
    """Write an int8 model file atomically (NumPy arrays; metadata values JSON-encoded; `float_layers`: the
    convolutions kept in float, recorded as metadata 'float_layers'; `activation_bits` 7 | 8, metadata
    'activation_bits'); returns the path."""
    from safetensors.numpy import save_file

    from jrestore._io import atomic_write

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"--out: expected a .safetensors file name, got {path}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")
    stack = quant_stack(model, kwargs).with_float_layers(float_layers).with_activation_bits(activation_bits)
    check_int8_tensors(stack, tensors, str(path))
    meta = {"format": INT8_FORMAT, "model": model, "kwargs": json.dumps(dict(kwargs), sort_keys=True),
            "method": method, "framework": framework, "activation_bits": stack.act_bits,
            "scheme": scheme(stack.act_bits), "float_layers": list(stack.float_layers),
            **{k: v for k, v in metadata.items() if v is not None}}
    encoded = {k: json.dumps(v) for k, v in meta.items()}
    arrays = {k: np.array(v, copy=True, order="C") for k, v in fold_pairs(stack, tensors, str(path)).items()}
    return atomic_write(path, lambda tmp: save_file(arrays, tmp, metadata=encoded))


def read_int8_file(path) -> tuple[QuantStack, dict, dict, dict]:
    """(stack, tensors {key: NumPy array}, metadata, constructor kwargs) of an int8 file; ValueError if `path`
    is not one (naming what it is) or is incomplete."""
    from safetensors.numpy import load_file

    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != INT8_FORMAT:
        raise ValueError(f"--weights: {path} is not a jrestore int8 file (format {meta.get('format')!r}, expected "
                         f"{INT8_FORMAT!r}); write one with `jrestore quantize`")
    kwargs = recorded_kwargs(meta)
    bits = meta.get("activation_bits", 7)  # files written before --activation-bits: 7
    if bits not in ACTIVATION_BITS:
        raise ValueError(f"--weights: {path}: activation_bits {bits!r}, expected one of {list(ACTIVATION_BITS)}")
    stack = (quant_stack(meta.get("model"), kwargs).with_float_layers(meta.get("float_layers") or ())
             .with_activation_bits(bits))
    tensors = unfold_pairs(stack, load_file(str(path)))
    check_int8_tensors(stack, tensors, str(path))
    return stack, tensors, meta, kwargs
