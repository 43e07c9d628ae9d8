"""The framework-neutral part of jrestore.models.srcnn: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.srcnn and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from jrestore._validate import check_choice, check_int
from jrestore.core.spec import BenchEntry, ModelSpec, ParityCase, WeightShapes, sr_images

__all__ = ["SPECS", "SRCNN_KERNELS", "check_fsrcnn_args", "srcnn_config", "fsrcnn_prelu_split_state"]


SRCNN_KERNELS = {"915": (9, 1, 5), "955": (9, 5, 5)}


def srcnn_config(num_channels: int, variant: str, padding: str) -> tuple[tuple, tuple, int]:
    """Validated SRCNN layout: (kernel sizes, per-layer padding, total output shrink in pixels)."""
    check_int(num_channels, "num_channels")
    check_choice(variant, "variant", SRCNN_KERNELS)
    check_choice(padding, "padding", ("same", "valid"))
    kernels = SRCNN_KERNELS[variant]
    if padding == "same":
        return kernels, tuple(k // 2 for k in kernels), 0
    return kernels, (0, 0, 0), sum(k - 1 for k in kernels)


def check_fsrcnn_args(scale_factor: int, num_channels: int, d: int, s: int, m: int, prelu_split: bool = False) -> None:
    check_int(scale_factor, "scale_factor")
    check_int(num_channels, "num_channels")
    check_int(d, "d")
    check_int(s, "s")
    check_int(m, "m", minimum=0)
    if not isinstance(prelu_split, bool):
        raise ValueError(f"prelu_split: expected True or False, got {prelu_split!r}")


def _fsrcnn_layers(m: int) -> tuple[list[str], list[str]]:
    """(the convolutions' prefixes, the PReLUs' prefixes) in call order; the deconvolution 'last_part' after.
    The one list of FSRCNN's layers the prelu_split rule and the int8 chain both walk."""
    convs = ["first_part.0"] + [f"mid_part.{2 * i}" for i in range(m + 2)]
    return convs, ["first_part.1"] + [f"mid_part.{2 * i + 1}" for i in range(m + 2)]


def fsrcnn_prelu_split_state(state: Mapping, kwargs: Mapping) -> dict:
    """An FSRCNN state dict (PyTorch layout) for the model built with `kwargs`: unchanged unless
    kwargs['prelu_split'] and `state` has PReLU slopes, then re-parameterised by rule into the same function
    with every PReLU(c) = ReLU(c) - a * ReLU(-c): each convolution's outputs doubled ([W; -W], bias [b; -b]:
    c and -c, each through a ReLU), the slopes a folded into the next layer's doubled inputs ([W', -a W']).
    Values: NumPy float32 arrays (any array-like in). Why: an int8 conv -> PReLU needs two activation grids
    (the conv's signed output, then the PReLU's), and fused int8 conv + ReLU kernels exist in every backend
    where conv + PReLU does not; the split chain has one grid per layer (README, FSRCNN INT8)."""
    if not kwargs.get("prelu_split") or "first_part.1.weight" not in state:
        return dict(state)
    convs, prelus = _fsrcnn_layers(int(kwargs.get("m", 4)))
    out = {k: v for k, v in state.items()
           if not k.startswith(tuple(p + "." for p in convs + prelus + ["last_part"]))}
    slope = None
    for conv, prelu in zip(convs, prelus):
        w = np.asarray(state[f"{conv}.weight"], np.float32)  # [out, in, kh, kw]
        b = np.asarray(state[f"{conv}.bias"], np.float32)
        if slope is not None:
            w = np.concatenate([w, -np.broadcast_to(slope, w.shape[1:2])[None, :, None, None] * w], axis=1)
        out[f"{conv}.weight"] = np.concatenate([w, -w], axis=0)
        out[f"{conv}.bias"] = np.concatenate([b, -b])
        slope = np.asarray(state[f"{prelu}.weight"], np.float32).reshape(-1)
    w = np.asarray(state["last_part.weight"], np.float32)  # ConvTranspose2d: [in, out, kh, kw]
    out["last_part.weight"] = np.concatenate([w, -np.broadcast_to(slope, w.shape[:1])[:, None, None, None] * w])
    out["last_part.bias"] = np.asarray(state["last_part.bias"], np.float32)
    return out


# --- specs (jrestore.core.spec); halos in LR pixels, rounded up generously over the deconvolution tail ----------
def _srcnn_rule(s: WeightShapes) -> dict:
    k2 = s("conv2.weight")[2]
    variants = {1: "915", 5: "955"}
    out = {"num_channels": s("conv1.weight")[1]}
    if k2 in variants:
        out["variant"] = variants[k2]
    return out


def _fsrcnn_rule(s: WeightShapes) -> dict:
    d, c = s("first_part.0.weight")[:2]
    mid = [i for i in s.indices(r"mid_part\.(\d+)\.weight") if len(s(f"mid_part.{i}.weight")) == 4]
    width = 1 if s.any(r"first_part\.1\.weight") else 2  # no slopes: a prelu_split state (widths doubled)
    split = {} if width == 1 else {"prelu_split": True}
    return {"num_channels": c, "d": d // width, "s": s("mid_part.0.weight")[0] // width, "m": len(mid) - 2, **split}


def _srcnn_hw(kw: dict) -> tuple:
    shrink = srcnn_config(kw.get("num_channels", 1), kw.get("variant", "955"), kw.get("padding", "same"))[2]
    return (16 + shrink,) * 2


def _fsrcnn_quant_stack(kwargs):
    """jrestore quantize's int8 chain: every conv, PReLU (prelu_split: ReLU, fused) and the deconvolution in order."""
    from jrestore.core.quantize import QuantStack, StackLayer

    split = bool(kwargs.get("prelu_split"))
    convs, activations = _fsrcnn_layers(int(kwargs.get("m", 4)))
    layers = []
    for conv, activation in zip(convs, activations):
        layers += [StackLayer(conv, "conv", fused_relu=split), StackLayer(activation, "relu" if split else "prelu")]
    layers.append(StackLayer("last_part", "conv_transpose"))
    return QuantStack("fsrcnn", tuple(layers), residual=False, paired_outputs=tuple(convs) if split else ())  # c, -c


SPECS = (
    ModelSpec("srcnn", "sr", channels_arg="num_channels", input_transform="bicubic_upsample", halo=lambda kw: 12,
              weights_rule=_srcnn_rule, example_hw=_srcnn_hw,
              # 9-1-5 'valid' (the paper's network): 17x15 -> 5x3; full: the yjn870 9-5-5 'same' default
              parity=ParityCase(small={"variant": "915", "padding": "valid"}, train_mode=False,
                                inputs=lambda rng, full: (sr_images(rng, (1, 24, 20, 1) if full else (2, 17, 15, 1)),)),
              # train upsamples the 32x32 LR batch inside the step; infer times the network on the 96x96 image
              bench=(BenchEntry("srcnn", {"num_channels": 1, "variant": "955", "padding": "same"}, batch=16,
                                input_hw=(32, 32), scale=3, recipe="srcnn_x3"),),
              recipe="srcnn_x3"),
    ModelSpec("fsrcnn", "sr", channels_arg="num_channels", scale_arg="scale_factor", halo=lambda kw: kw.get("m", 4) + 6,
              weights_rule=_fsrcnn_rule,
              parity=ParityCase(small={"scale_factor": 3, "d": 8, "s": 4, "m": 1}, train_mode=False,
                                inputs=lambda rng, full: (sr_images(rng, (1, 12, 10, 1) if full else (2, 9, 7, 1)),)),
              bench=(BenchEntry("fsrcnn", {"scale_factor": 3, "num_channels": 1, "d": 56, "s": 12, "m": 4}, batch=16,
                                input_hw=(32, 32), scale=3, recipe="fsrcnn_x3"),),
              recipe="fsrcnn_x3", quant_stack=_fsrcnn_quant_stack, state_rule=fsrcnn_prelu_split_state),
)
