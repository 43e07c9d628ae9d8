"""INT8 in PyTorch: static post-training quantisation and quantisation-aware training with torch.ao.quantization
(FX graph mode, x86 / fbgemm backend, CPU), and int8 files run as converted quantised modules.

    net = torch_ref.load("dncnn_25.pth", model="dncnn", act_mode="R")
    stack = quant_stack("dncnn", kwargs)                             # jrestore.core.quantize
    qnet, tensors = ptq(net, stack, calib_batches)                   # prepare_fx, observe, convert_fx
    qnet, tensors = qat(net, stack, train_batches, steps=200)        # prepare_qat_fx, fake-quant steps, convert_fx
    qnet = int8_model(*read_int8_file("dncnn_int8.safetensors")[:3])  # any int8 file, whoever wrote it

Only the model's `quant_stack` (a flat chain of Conv2d / ConvTranspose2d / ReLU / PReLU) goes through FX; the
rest stays float (DnCNN's skip: x - stack(x), with x unquantised). The model's own forward is not traced: it
validates its input with Python checks FX cannot trace. Conv + ReLU are fused by prepare_fx; PReLU runs in
float between a dequantize and a quantize (see FloatPReLU for why).
The qconfig is jrestore.core.quantize's scheme: per-channel symmetric int8 weights, per-tensor for
ConvTranspose2d (fbgemm's quantised ConvTranspose2d refuses per-channel weights: `convert_fx` raises
"Per Channel Quantization is currently disabled for transposed conv"), uint8 activations 0..127.
No JAX is imported here (torch_ref imports torch and jrestore.core only).
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn as nn

from jrestore.core.quantize import ACT_QMAX, ACT_QMIN, QuantStack

__all__ = ["qconfig_mapping", "stack_module", "ptq", "qat", "export_tensors", "int8_model", "Int8Model", "ENGINE"]

ENGINE = "x86"  # torch.backends.quantized.engine: fbgemm kernels (+ oneDNN where it is faster), CPU


@contextlib.contextmanager
def _quiet():
    """torch.ao.quantization's deprecation notices and observer hints, once per call, not per module."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao\..*")
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        yield


def qconfig_mapping(training: bool = False):
    """The QConfigMapping of jrestore.core.quantize's scheme: observers for PTQ, fake-quant modules for QAT."""
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.fake_quantize import FakeQuantize
    from torch.ao.quantization.observer import (MinMaxObserver, MovingAverageMinMaxObserver,
                                                MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver)

    act_args = dict(dtype=torch.quint8, qscheme=torch.per_tensor_affine, quant_min=ACT_QMIN, quant_max=ACT_QMAX)
    channel_args = dict(dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-128, quant_max=127)
    tensor_args = dict(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=-128, quant_max=127)
    if training:
        act = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, **act_args)
        per_channel = FakeQuantize.with_args(observer=MovingAveragePerChannelMinMaxObserver, ch_axis=0, **channel_args)
        per_tensor = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, **tensor_args)
    else:
        act = MinMaxObserver.with_args(**act_args)
        per_channel = PerChannelMinMaxObserver.with_args(ch_axis=0, **channel_args)
        per_tensor = MinMaxObserver.with_args(**tensor_args)
    return (QConfigMapping().set_global(QConfig(activation=act, weight=per_channel))
            .set_object_type(nn.ConvTranspose2d, QConfig(activation=act, weight=per_tensor))
            .set_object_type(FloatPReLU, None))


class FloatPReLU(nn.Module):
    """A PReLU that FX leaves in float (a non-traceable leaf without qconfig): its input is dequantised, its
    output quantised for the next conv. torch 2.13's QuantizedPReLU (x86) is wrong for positive inputs:
    quantized.prelu(x, w) on x = 0.34 (scale 0.02) gives 0.24 instead of 0.34 (measured; the slope side
    is right), and FX cannot leave a bare nn.PReLU in float (its lowering replaces every
    dequantize-PReLU-quantize pattern with QuantizedPReLU, then fails without a weight qconfig)."""

    def __init__(self, prelu: nn.PReLU):
        super().__init__()
        self.prelu = prelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(x)


def stack_module(net: nn.Module, stack: QuantStack) -> nn.Sequential:
    """The model's quantised chain as one flat nn.Sequential of its own modules (shared, not copied; each
    PReLU inside a FloatPReLU)."""
    modules = [net.get_submodule(layer.prefix) for layer in stack.layers]
    return nn.Sequential(*[FloatPReLU(m) if layer.kind == "prelu" else m for layer, m in zip(stack.layers, modules)])


def _custom_config():
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

    return PrepareCustomConfig().set_non_traceable_module_classes([FloatPReLU])


class Int8Model(nn.Module):
    """A model whose `quant_stack` is a converted (int8) GraphModule: x [B, C, H, W] float32 -> output float32;
    DnCNN: x - stack(x), the subtraction in float."""

    def __init__(self, stack_module: nn.Module, residual: bool):
        super().__init__()
        self.stack = stack_module
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stack(x)
        return x - y if self.residual else y


def _example(net: nn.Module, stack: QuantStack) -> tuple:
    channels = net.get_submodule(stack.layers[0].prefix).in_channels
    return (torch.zeros(1, channels, 16, 16),)


def ptq(net: nn.Module, stack: QuantStack, batches: Iterable[torch.Tensor]) -> tuple[Int8Model, dict]:
    """Static post-training quantisation: prepare_fx, run `batches` ([B, C, H, W] float32) through the
    observers, convert_fx. Returns (the int8 model, its tensors for the int8 file). `net` is not changed."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = ENGINE
    with _quiet():
        float_stack = copy.deepcopy(stack_module(net, stack)).eval()
        prepared = prepare_fx(float_stack, qconfig_mapping(False), _example(net, stack),
                              prepare_custom_config=_custom_config())
        seen = 0
        with torch.no_grad():
            for batch in batches:
                prepared(batch)
                seen += 1
        if not seen:
            raise ValueError("calib: no calibration batches (the --calib folder gave no images)")
        converted = convert_fx(prepared)
    return Int8Model(converted, stack.residual).eval(), export_tensors(converted, stack)


def qat(net: nn.Module, stack: QuantStack, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, steps: int,
        lr: float = 1e-5, on_step: Callable[[int, float], None] | None = None) -> tuple[Int8Model, dict]:
    """Quantisation-aware fine-tuning: prepare_qat_fx (fake-quant of weights and activations, straight-through
    gradients), `steps` Adam steps of MSE on (input, target) pairs from `batches` (cycled), then convert_fx.
    The float model's parts outside the stack (none for DnCNN / FSRCNN) are frozen. `net` is not changed."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_qat_fx

    torch.backends.quantized.engine = ENGINE
    with _quiet():
        float_stack = copy.deepcopy(stack_module(net, stack)).train()
        prepared = prepare_qat_fx(float_stack, qconfig_mapping(True), _example(net, stack),
                                  prepare_custom_config=_custom_config())
        optimizer = torch.optim.Adam(prepared.parameters(), lr=lr)
        step = 0
        while step < steps:
            progressed = False
            for x, target in batches:
                y = prepared(x)
                out = x - y if stack.residual else y
                loss = torch.mean((out - target) ** 2)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                progressed = True
                if on_step is not None:
                    on_step(step, loss.item())
                if step >= steps:
                    break
            if not progressed:
                raise ValueError("calib: no training batches (the --calib folder gave no images)")
        converted = convert_fx(prepared.eval())
    return Int8Model(converted, stack.residual).eval(), export_tensors(converted, stack)


def _buffer_qparams(converted, index: int) -> tuple[float, int]:
    """(scale, zero point) of the quantize_per_tensor FX put before module `index` (the stack input, or the
    output of a float PReLU)."""
    scale, zero_point = getattr(converted, f"{index}_input_scale_0"), getattr(converted, f"{index}_input_zero_point_0")
    return float(scale), int(zero_point)


def export_tensors(converted, stack: QuantStack) -> dict:
    """{int8 file key: NumPy array} from a converted stack (see jrestore.core.quantize for the layout)."""
    modules = dict(converted.named_children())
    in_scale, in_zp = _buffer_qparams(converted, 0)
    out = {"input.scale": np.array([in_scale], np.float32), "input.zero_point": np.array([in_zp], np.int32)}
    for index, layer in enumerate(stack.layers):
        if layer.kind == "relu":
            continue
        mod, p = modules[str(index)], layer.prefix
        if layer.kind == "prelu":  # float PReLU; its output is quantised for the next conv (module index + 1)
            out[f"{p}.weight"] = mod.prelu.weight.detach().numpy().astype(np.float32)
            scale, zero_point = _buffer_qparams(converted, index + 1)
        else:
            w = mod.weight()
            per_channel = w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
            scales = w.q_per_channel_scales().numpy() if per_channel else np.array([w.q_scale()])
            zero_points = w.q_per_channel_zero_points().numpy() if per_channel else np.array([w.q_zero_point()])
            if np.any(zero_points != 0):
                raise RuntimeError(f"{p}: expected symmetric weights (zero point 0), got {zero_points}")
            out[f"{p}.weight"] = w.int_repr().numpy().astype(np.int8)
            out[f"{p}.weight_scale"] = scales.astype(np.float32)
            bias = mod.bias()
            out[f"{p}.bias"] = (bias.detach().numpy() if bias is not None
                                else np.zeros(out[f"{p}.weight"].shape[0 if layer.kind == "conv" else 1])).astype(np.float32)
            scale, zero_point = mod.scale, mod.zero_point
        out[f"{p}.output_scale"] = np.array([scale], np.float32)
        out[f"{p}.output_zero_point"] = np.array([zero_point], np.int32)
    return out


def _dequantised_state(stack: QuantStack, tensors: dict) -> dict:
    """Float weights w = q * scale (and PReLU slopes) for building the float modules before conversion."""
    state = {}
    for layer in stack.quantised:
        p = layer.prefix
        q = tensors[f"{p}.weight"].astype(np.float32)
        if layer.kind == "prelu":
            state[f"{p}.weight"] = q
            continue
        scale = tensors[f"{p}.weight_scale"]
        shape = (-1, 1, 1, 1) if layer.kind == "conv" else (1, -1, 1, 1)
        state[f"{p}.weight"] = q * (scale.reshape(shape) if scale.size > 1 else scale[0])
        state[f"{p}.bias"] = tensors[f"{p}.bias"]
    return {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in state.items()}


def int8_model(stack: QuantStack, tensors: dict, kwargs: dict) -> Int8Model:
    """The converted int8 torch model of an int8 file's tensors: prepare_fx + convert_fx of the float chain,
    then every quantised module's integers, scales and zero points replaced by the file's (so a file written
    by the JAX side runs here with its own integers, not re-quantised ones)."""
    import torch_ref.models
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = ENGINE
    net = torch_ref.models.get(stack.model, **kwargs).eval()
    net.load_state_dict(_dequantised_state(stack, tensors), strict=False)
    with _quiet():
        prepared = prepare_fx(copy.deepcopy(stack_module(net, stack)), qconfig_mapping(False), _example(net, stack),
                              prepare_custom_config=_custom_config())
        with torch.no_grad():
            prepared(_example(net, stack)[0])  # observers need one pass; every value they set is replaced below
        converted = convert_fx(prepared)
        _put_tensors(converted, stack, tensors)
    return Int8Model(converted, stack.residual).eval()


def _put_tensors(converted, stack: QuantStack, tensors: dict) -> None:
    modules = dict(converted.named_children())

    def set_buffer_qparams(index: int, key: str) -> None:
        setattr(converted, f"{index}_input_scale_0", torch.tensor(float(tensors[f"{key}scale"][0])))
        setattr(converted, f"{index}_input_zero_point_0", torch.tensor(int(tensors[f"{key}zero_point"][0])))

    set_buffer_qparams(0, "input.")
    for index, layer in enumerate(stack.layers):
        if layer.kind == "relu":
            continue
        mod, p = modules[str(index)], layer.prefix
        if layer.kind == "prelu":  # float slopes were loaded with the float model; the output's qparams:
            set_buffer_qparams(index + 1, f"{p}.output_")
            continue
        q = torch.from_numpy(tensors[f"{p}.weight"].astype(np.int8))
        scale = tensors[f"{p}.weight_scale"]
        if layer.kind == "conv" and scale.size > 1:
            qweight = torch._make_per_channel_quantized_tensor(
                q, torch.from_numpy(scale.astype(np.float64)), torch.zeros(scale.size, dtype=torch.int64), 0)
        else:
            qweight = torch._make_per_tensor_quantized_tensor(q, float(scale[0]), 0)
        mod.set_weight_bias(qweight, torch.from_numpy(tensors[f"{p}.bias"].astype(np.float32)))
        mod.scale = float(tensors[f"{p}.output_scale"][0])
        mod.zero_point = int(tensors[f"{p}.output_zero_point"][0])
