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

from torch.ao.quantization.observer import UniformQuantizationObserverBase

from jrestore.core.quantize import (ACT_QMAX, ACT_QMIN, DEFAULT_PERCENTILE, LR_SCHEDULES, OBSERVERS, QAT_TARGETS,
                                    QuantStack, check_qat_options, prune_tensors)

__all__ = ["qconfig_mapping", "stack_module", "ptq", "qat", "export_tensors", "int8_model", "Int8Model", "ENGINE",
           "PercentileObserver", "engine_for", "channel_ranges", "equalize", "LR_SCHEDULES", "QAT_TARGETS"]

ENGINE = "x86"  # torch.backends.quantized.engine for 7-bit files: fbgemm kernels (+ oneDNN where faster), CPU
# 8-bit activations: qnnpack, the one engine exact with them on every x86 CPU (it widens to int16 and
# accumulates in int32; fbgemm / x86 / oneDNN saturate int16 pair sums on CPUs without AVX-512 VNNI: measured
# wrong under FBGEMM_ENABLE_INSTRUCTIONS=AVX2 / ONEDNN_MAX_CPU_ISA=AVX2, qnnpack exact; see the README).
ENGINE_8BIT = "qnnpack"


def engine_for(stack: QuantStack) -> str:
    """The quantized engine that runs `stack`'s int8 graph exactly: ENGINE (x86) for 7-bit activations,
    ENGINE_8BIT (qnnpack) for 8-bit ones. The engine is process-global: set it before every prepare / run."""
    return ENGINE_8BIT if stack.act_bits == 8 else ENGINE


@contextlib.contextmanager
def _quiet():
    """torch.ao.quantization's deprecation notices and observer hints, once per call, not per module."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao\..*")
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        yield


class PercentileObserver(UniformQuantizationObserverBase):
    """Activation range from percentiles: for each batch it sees, the (100 - p)-th and p-th percentiles of the
    tensor (linear interpolation between order statistics, NumPy's default), averaged over the batches; the
    (scale, zero point) then by MinMaxObserver's formula. Clips the rare outliers whose extremes would
    stretch a 7-bit range. jrestore.quantize.calibrate_ranges(observer='percentile') computes the same."""

    def __init__(self, percentile: float = DEFAULT_PERCENTILE, dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                 reduce_range=False, quant_min=None, quant_max=None, eps=torch.finfo(torch.float32).eps, **kwargs):
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"--percentile: expected a value in (50, 100], got {percentile}")
        super().__init__(dtype=dtype, qscheme=qscheme, reduce_range=reduce_range, quant_min=quant_min,
                         quant_max=quant_max, eps=eps, **kwargs)
        self.percentile = float(percentile)
        self.register_buffer("low_sum", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("high_sum", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("batches", torch.tensor(0, dtype=torch.int64))

    @staticmethod
    def _percentile(flat_sorted: torch.Tensor, q: float) -> torch.Tensor:
        position = (q / 100.0) * (flat_sorted.numel() - 1)
        below = int(np.floor(position))
        above = min(below + 1, flat_sorted.numel() - 1)
        frac = float(np.float32(position - below))
        return flat_sorted[below] + (flat_sorted[above] - flat_sorted[below]) * frac

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() == 0:
            return x
        flat = torch.sort(x.detach().to(torch.float32).reshape(-1)).values
        self.low_sum += self._percentile(flat, 100.0 - self.percentile).double()
        self.high_sum += self._percentile(flat, self.percentile).double()
        self.batches += 1
        return x

    @torch.jit.export
    def calculate_qparams(self):
        if int(self.batches) == 0:
            return self._calculate_qparams(torch.tensor(0.0), torch.tensor(0.0))
        low = (self.low_sum / self.batches).to(torch.float32)
        high = (self.high_sum / self.batches).to(torch.float32)
        return self._calculate_qparams(low.reshape(()), high.reshape(()))


def _activation_observer(observer: str, percentile: float):
    from torch.ao.quantization.observer import HistogramObserver, MinMaxObserver

    if observer not in OBSERVERS:
        raise ValueError(f"--observer: expected one of {list(OBSERVERS)}, got {observer!r}")
    if observer == "percentile":
        return PercentileObserver.with_args(percentile=percentile)
    return HistogramObserver if observer == "histogram" else MinMaxObserver


def qconfig_mapping(training: bool = False, stack: QuantStack | None = None, observer: str = "minmax",
                    percentile: float = DEFAULT_PERCENTILE):
    """The QConfigMapping of jrestore.core.quantize's scheme: observers for PTQ, fake-quant modules for QAT.
    observer: the activations' range observer (PTQ; QAT with 'minmax' keeps moving-average fake-quant
    observers, with the others their calibrated ranges, see qat). stack: its float layers get no qconfig
    (set_module_name: FX leaves them float, with a quantize before the next int8 layer)."""
    from torch.ao.quantization import QConfig, QConfigMapping
    from torch.ao.quantization.fake_quantize import FakeQuantize
    from torch.ao.quantization.observer import (MinMaxObserver, MovingAverageMinMaxObserver,
                                                MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver)

    qmax = stack.act_qmax if stack is not None else ACT_QMAX
    act_args = dict(dtype=torch.quint8, qscheme=torch.per_tensor_affine, quant_min=ACT_QMIN, quant_max=qmax)
    channel_args = dict(dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-128, quant_max=127)
    tensor_args = dict(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=-128, quant_max=127)
    act_observer = _activation_observer(observer, percentile)
    if training:
        act = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver if observer == "minmax" else act_observer,
                                     **act_args)
        per_channel = FakeQuantize.with_args(observer=MovingAveragePerChannelMinMaxObserver, ch_axis=0, **channel_args)
        per_tensor = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, **tensor_args)
    else:
        act = act_observer.with_args(**act_args)
        per_channel = PerChannelMinMaxObserver.with_args(ch_axis=0, **channel_args)
        per_tensor = MinMaxObserver.with_args(**tensor_args)
    mapping = (QConfigMapping().set_global(QConfig(activation=act, weight=per_channel))
               .set_object_type(nn.ConvTranspose2d, QConfig(activation=act, weight=per_tensor))
               .set_object_type(FloatPReLU, None))
    for index, layer in enumerate(stack.layers if stack is not None else ()):
        if layer.prefix in stack.float_layers:
            mapping.set_module_name(str(index), None)
    return mapping


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

    def __init__(self, stack_module: nn.Module, residual: bool, engine: str = ENGINE):
        super().__init__()
        self.stack = stack_module
        self.residual = residual
        self.engine = engine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.backends.quantized.engine = self.engine  # process-global; another int8 model may have changed it
        y = self.stack(x)
        return x - y if self.residual else y


def _example(net: nn.Module, stack: QuantStack) -> tuple:
    channels = net.get_submodule(stack.layers[0].prefix).in_channels
    return (torch.zeros(1, channels, 16, 16),)


def _calibrate(prepared, batches: Iterable[torch.Tensor]) -> None:
    """Run the calibration `batches` ([B, C, H, W] float32) through a prepared module's observers;
    ValueError if there were none."""
    seen = 0
    with torch.no_grad():
        for batch in batches:
            prepared(batch)
            seen += 1
    if not seen:
        raise ValueError("calib: no calibration batches (the --calib folder gave no images)")


def ptq(net: nn.Module, stack: QuantStack, batches: Iterable[torch.Tensor], observer: str = "minmax",
        percentile: float = DEFAULT_PERCENTILE) -> tuple[Int8Model, dict]:
    """Static post-training quantisation: prepare_fx, run `batches` ([B, C, H, W] float32) through the
    observers (`observer`: minmax | percentile | histogram), convert_fx. Returns (the int8 model, its tensors
    for the int8 file); `stack.float_layers` stay float. `net` is not changed."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = engine_for(stack)
    with _quiet():
        float_stack = copy.deepcopy(stack_module(net, stack)).eval()
        prepared = prepare_fx(float_stack, qconfig_mapping(False, stack, observer, percentile), _example(net, stack),
                              prepare_custom_config=_custom_config())
        _calibrate(prepared, batches)
        converted = convert_fx(prepared)
    return Int8Model(converted, stack.residual, engine_for(stack)).eval(), export_tensors(converted, stack)


def qat(net: nn.Module, stack: QuantStack, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, steps: int,
        lr: float = 1e-5, on_step: Callable[[int, float], None] | None = None, observer: str = "minmax",
        percentile: float = DEFAULT_PERCENTILE, calib_batches: Iterable[torch.Tensor] = (),
        lr_schedule: str = "constant", target: str = "data", freeze_ranges_after: int = 0
        ) -> tuple[Int8Model, dict]:
    """Quantisation-aware fine-tuning: prepare_qat_fx (fake-quant of weights and activations, straight-through
    gradients), `steps` Adam steps of MSE on (input, target) pairs from `batches` (cycled), then convert_fx.
    lr_schedule 'constant' or 'cosine' (CosineAnnealingLR(T_max=steps): lr * (1 + cos(pi k / steps)) / 2 at
    step k, from lr down to 0). target 'data': the pair's target; 'teacher': the float model `net`'s own output
    on the pair's input (self-distillation: QAT learns only the int8 error, not the float model's).
    freeze_ranges_after K > 0: the activations' observers are disabled after K steps (disable_observer, as
    PyTorch's QAT recipes freeze them for the last epochs): the last steps train on the grid the file gets.
    observer 'minmax': the activations' fake-quant observers follow the training (moving averages, torch's
    default); 'percentile' / 'histogram': the activation ranges are calibrated on `calib_batches` first
    (fake-quant off) and then frozen (disable_observer), weights' observers left on. `stack.float_layers`
    train in float; `stack.paired_outputs` (FSRCNN prelu_split) are tied again after every step (_tie_pairs).
    The float model's parts outside the stack (none for DnCNN / FSRCNN) are frozen. `net` is not changed."""
    from torch.ao.quantization.fake_quantize import FakeQuantize
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_qat_fx

    check_qat_options(lr_schedule, target, freeze_ranges_after)
    teacher = copy.deepcopy(net).eval() if target == "teacher" else None
    torch.backends.quantized.engine = engine_for(stack)
    with _quiet():
        float_stack = copy.deepcopy(stack_module(net, stack)).train()
        prepared = prepare_qat_fx(float_stack, qconfig_mapping(True, stack, observer, percentile),
                                  _example(net, stack), prepare_custom_config=_custom_config())
        act_fakes = [m for name, m in prepared.named_modules()
                     if isinstance(m, FakeQuantize) and "activation_post_process" in name]
        if observer != "minmax":
            for fake in act_fakes:
                fake.disable_fake_quant()
            _calibrate(prepared, calib_batches)
            for fake in act_fakes:
                fake.enable_fake_quant()
                fake.disable_observer()
        transposed = [m for name, m in prepared.named_children() if type(m) is nn.ConvTranspose2d
                      and stack.is_int8(stack.layers[int(name)])]
        for module in transposed:  # their weights fake-quantised too (see _WeightFakeQuantConvTranspose2d)
            module.__class__ = _WeightFakeQuantConvTranspose2d
        optimizer = torch.optim.Adam(prepared.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if lr_schedule == "cosine" else None
        step = 0
        while step < steps:
            progressed = False
            for x, wanted in batches:
                if freeze_ranges_after and step == freeze_ranges_after:
                    for fake in act_fakes:
                        fake.disable_observer()
                if teacher is not None:
                    with torch.no_grad():
                        wanted = teacher(x)
                y = prepared(x)
                out = x - y if stack.residual else y
                loss = torch.mean((out - wanted) ** 2)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                _tie_pairs(prepared, stack)
                if scheduler is not None:
                    scheduler.step()
                step += 1
                progressed = True
                if on_step is not None:
                    on_step(step, loss.item())
                if step >= steps:
                    break
            if not progressed:
                raise ValueError("calib: no training batches (the --calib folder gave no images)")
        for module in transposed:
            module.__class__ = nn.ConvTranspose2d
        converted = convert_fx(prepared.eval())
    return Int8Model(converted, stack.residual, engine_for(stack)).eval(), export_tensors(converted, stack)


def _tie_pairs(prepared, stack: QuantStack) -> None:
    """Each paired layer's (QuantStack.paired_outputs) (c, -c) output channels tied again after an optimiser
    step: the first half (first - second) / 2, the second its negation (jrestore.quantize.tie_pairs does the
    same), so the file can store one half (jrestore.core.quantize.fold_pairs)."""
    with torch.no_grad():
        for index, layer in enumerate(stack.layers):
            if layer.prefix not in stack.paired_outputs:
                continue
            mod = prepared.get_submodule(str(index))
            conv = mod if hasattr(mod, "weight") else mod[0]  # QAT ConvReLU2d holds it; a float Conv+ReLU its [0]
            for param in (conv.weight, conv.bias):
                half = param.shape[0] // 2
                first = (param[:half] - param[half:]) / 2
                param.copy_(torch.cat([first, -first]))


def channel_ranges(net: nn.Module, stack: QuantStack, batches: Iterable[torch.Tensor]) -> dict:
    """{layer prefix: (lo [C], hi [C]) float64} per channel of every stack layer's output in float model `net`
    over `batches` ([B, C, H, W] float32), each module run alone in chain order (a conv with a fused ReLU:
    before the ReLU): what jrestore.core.quantize.equalize_activations needs."""
    lo, hi = {}, {}
    with torch.no_grad():
        for batch in batches:
            h = batch
            for layer in stack.layers:
                h = net.get_submodule(layer.prefix)(h)
                a, b = h.amin(dim=(0, 2, 3)).double().numpy(), h.amax(dim=(0, 2, 3)).double().numpy()
                p = layer.prefix
                lo[p] = a if p not in lo else np.minimum(lo[p], a)
                hi[p] = b if p not in hi else np.maximum(hi[p], b)
    if not lo:
        raise ValueError("calib: no calibration batches (the --calib folder gave no images)")
    return {p: (lo[p], hi[p]) for p in lo}


def equalize(net: nn.Module, stack: QuantStack, batches: Iterable[torch.Tensor], alpha: float) -> nn.Module:
    """A copy of `net` with its activations equalised (jrestore.core.quantize.equalize_activations, exponent
    `alpha`, ranges from `batches`): the same float function, narrower spread of channel ranges."""
    from jrestore.core.quantize import equalize_activations

    floats = {k: v.detach().numpy() for k, v in net.state_dict().items()
              if any(k.startswith(layer.prefix + ".") for layer in stack.quantised)}
    new = equalize_activations(floats, stack, channel_ranges(net, stack, list(batches)), alpha)
    out = copy.deepcopy(net)
    out.load_state_dict({k: torch.from_numpy(v) for k, v in new.items()}, strict=False)
    return out


class _WeightFakeQuantConvTranspose2d(nn.ConvTranspose2d):
    """A ConvTranspose2d whose forward fake-quantises its weight as convert_fx will quantise it: int8 per
    tensor, symmetric, the scale from MinMaxObserver on the current weight (max |w| / 127.5), straight-through
    gradient. torch.ao has no QAT ConvTranspose2d: prepare_qat_fx leaves it float, so QAT trained FSRCNN's
    deconvolution with float weights that convert_fx then rounded to int8 unseen (the fake-quant model scored
    above the converted one). qat sets this class on the int8 transposed convolutions while it trains and
    restores nn.ConvTranspose2d before convert_fx (which maps modules by exact type)."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        from torch.ao.quantization.observer import MinMaxObserver

        observer = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=-128,
                                  quant_max=127)
        observer(self.weight.detach())
        scale, zero_point = observer.calculate_qparams()
        weight = torch.fake_quantize_per_tensor_affine(self.weight, float(scale), int(zero_point), -128, 127)
        return torch.nn.functional.conv_transpose2d(x, weight, self.bias, self.stride, self.padding,
                                                    self.output_padding, self.groups, self.dilation)


def _quantize_nodes(converted) -> dict:
    """{index of the module a quantize_per_tensor feeds: (scale attribute name, zero point attribute name)}:
    the quantisation FX put before an int8 module whose input comes from float (the stack input, a float
    PReLU's or a float layer's output)."""
    found = {}
    for node in converted.graph.nodes:
        if node.op == "call_function" and node.target is torch.quantize_per_tensor:
            users = [u for u in node.users if u.op == "call_module"]
            if len(users) != 1:
                raise RuntimeError(f"expected one module after {node.name}, got {[u.name for u in node.users]}")
            found[int(users[0].target)] = (node.args[1].target, node.args[2].target)
    return found


def _next_index(stack: QuantStack, index: int) -> int | None:
    """The module index of the next weighted layer (conv or PReLU) after module `index` (None: the last)."""
    for j in range(index + 1, len(stack.layers)):
        if stack.layers[j].kind != "relu":
            return j
    return None


def export_tensors(converted, stack: QuantStack) -> dict:
    """{int8 file key: NumPy array} from a converted stack (see jrestore.core.quantize for the layout)."""
    modules = dict(converted.named_children())
    quantizers = _quantize_nodes(converted)

    def buffer_qparams(index):
        scale, zero_point = (getattr(converted, name) for name in quantizers[index])
        return np.array([float(scale)], np.float32), np.array([int(zero_point)], np.int32)
    out = {}
    if 0 in quantizers:
        out["input.scale"], out["input.zero_point"] = buffer_qparams(0)
    for index, layer in enumerate(stack.layers):
        if layer.kind == "relu":
            continue
        mod, p = modules[str(index)], layer.prefix
        if layer.kind == "prelu" or not stack.is_int8(layer):  # float; its output quantised for an int8 next layer
            if layer.kind == "prelu":
                out[f"{p}.weight"] = mod.prelu.weight.detach().numpy().astype(np.float32)
            else:
                conv = mod[0] if isinstance(mod, nn.Sequential) else mod  # a float Conv+ReLU stays fused
                out[f"{p}.weight"] = conv.weight.detach().numpy().astype(np.float32)
                out[f"{p}.bias"] = conv.bias.detach().numpy().astype(np.float32)
            following = _next_index(stack, index)
            if following in quantizers:
                out[f"{p}.output_scale"], out[f"{p}.output_zero_point"] = buffer_qparams(following)
            continue
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
    return prune_tensors(stack, out)


def _dequantised_state(stack: QuantStack, tensors: dict) -> dict:
    """Float weights w = q * scale (and PReLU slopes) for building the float modules before conversion."""
    state = {}
    for layer in stack.quantised:
        p = layer.prefix
        q = tensors[f"{p}.weight"].astype(np.float32)
        if layer.kind == "prelu" or not stack.is_int8(layer):  # float32 in the file
            state[f"{p}.weight"] = q
            if layer.kind != "prelu":
                state[f"{p}.bias"] = tensors[f"{p}.bias"]
            continue
        scale = tensors[f"{p}.weight_scale"]
        shape = (-1, 1, 1, 1) if layer.kind == "conv" else (1, -1, 1, 1)
        state[f"{p}.weight"] = q * (scale.reshape(shape) if scale.size > 1 else scale[0])
        state[f"{p}.bias"] = tensors[f"{p}.bias"]
    return {k: torch.from_numpy(np.array(v, np.float32, copy=True, order="C")) for k, v in state.items()}


def int8_model(stack: QuantStack, tensors: dict, kwargs: dict) -> Int8Model:
    """The converted int8 torch model of an int8 file's tensors: prepare_fx + convert_fx of the float chain,
    then every quantised module's integers, scales and zero points replaced by the file's (so a file written
    by the JAX side runs here with its own integers, not re-quantised ones)."""
    import torch_ref.models
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = engine_for(stack)
    net = torch_ref.models.get(stack.model, **kwargs).eval()
    net.load_state_dict(_dequantised_state(stack, tensors), strict=False)
    with _quiet():
        prepared = prepare_fx(copy.deepcopy(stack_module(net, stack)), qconfig_mapping(False, stack),
                              _example(net, stack), prepare_custom_config=_custom_config())
        with torch.no_grad():
            prepared(_example(net, stack)[0])  # observers need one pass; every value they set is replaced below
        converted = convert_fx(prepared)
        _put_tensors(converted, stack, tensors)
    return Int8Model(converted, stack.residual, engine_for(stack)).eval()


def _put_tensors(converted, stack: QuantStack, tensors: dict) -> None:
    modules = dict(converted.named_children())
    quantizers = _quantize_nodes(converted)

    def set_buffer_qparams(index: int, key: str) -> None:
        scale_name, zero_point_name = quantizers[index]
        setattr(converted, scale_name, torch.tensor(float(tensors[f"{key}scale"][0])))
        setattr(converted, zero_point_name, torch.tensor(int(tensors[f"{key}zero_point"][0])))

    if 0 in quantizers:
        set_buffer_qparams(0, "input.")
    for index, layer in enumerate(stack.layers):
        if layer.kind == "relu":
            continue
        mod, p = modules[str(index)], layer.prefix
        if layer.kind == "prelu" or not stack.is_int8(layer):  # float weights were loaded with the float model
            following = _next_index(stack, index)
            if following in quantizers:  # its output is quantised for the int8 layer after it
                set_buffer_qparams(following, f"{p}.output_")
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
