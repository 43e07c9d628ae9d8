"""The framework-neutral part of jrestore.models.dncnn: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.dncnn and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import re

import numpy as np

from jrestore._validate import check_choice, check_int
from jrestore.core.spec import BenchEntry, ModelSpec, ParityCase, WeightShapes

__all__ = ["SPECS", "BN_SETTINGS", "ACT_MODES", "DNCNN_VARIANTS", "KAIR_BN", "LEAKY_SLOPE", "check_act_mode", "check_dncnn_args"]


ACT_MODES = ("R", "BR", "L", "BL")


DNCNN_VARIANTS = ("plain", "residual", "separable")


KAIR_BN = {"eps": 1e-4, "momentum": 0.9}  # basicblock.conv 'B': PyTorch momentum convention
# DnCNN's `bn_settings`: KAIR's (the default, its checkpoints' training) or PyTorch's nn.BatchNorm2d defaults,
# which the design document's residual DnCNN (seed 004) uses
BN_SETTINGS = {"kair": KAIR_BN, "pytorch": {"eps": 1e-5, "momentum": 0.1}}


LEAKY_SLOPE = 0.2  # basicblock.conv default negative_slope


def check_act_mode(act_mode) -> tuple[bool, str]:
    """(use BN, activation letter 'R' | 'L') for a KAIR act_mode."""
    check_choice(act_mode, "act_mode", ACT_MODES)
    return act_mode.startswith("B"), act_mode[-1]


def check_dncnn_args(in_nc: int, out_nc: int, nc: int, nb: int, act_mode: str, variant: str,
                     bn_settings: str = "kair") -> tuple[bool, str]:
    for value, name in ((in_nc, "in_nc"), (out_nc, "out_nc"), (nc, "nc")):
        check_int(value, name)
    check_int(nb, "nb", minimum=2)
    check_choice(variant, "variant", DNCNN_VARIANTS)
    check_choice(bn_settings, "bn_settings", BN_SETTINGS)
    if out_nc != in_nc:
        raise ValueError(f"out_nc: DnCNN returns x - model(x), so expected out_nc == in_nc ({in_nc}), got {out_nc}")
    return check_act_mode(act_mode)


# --- spec (jrestore.core.spec) --------------------------------------------------------------------------------
def _halo(kw: dict) -> int:
    nb = kw.get("nb", 17)
    return 2 * (nb - 2) + 2 if kw.get("variant", "plain") == "residual" else nb


def batchnorm_act_mode(s: WeightShapes, prefix: str) -> str:
    """'BR' when the state dict has BatchNorm statistics under `prefix`, else 'R' (activations have no
    weights, so 'L' reads as 'R')."""
    return "BR" if s.any(re.escape(prefix) + r".*running_mean") else "R"


def _weights_rule(s: WeightShapes) -> dict:
    nc, in_nc = s("model.0.weight")[:2]
    if s.any(r"model\.\d+\.conv1\.weight"):
        variant, units = "residual", s.indices(r"model\.(\d+)\.conv1\.weight")
    elif s.any(r"model\.\d+\.depthwise\.weight"):
        variant, units = "separable", s.indices(r"model\.(\d+)\.depthwise\.weight")
    else:  # plain: every 4-D model.{i}.weight is a conv (BN weights are 1-D)
        variant = "plain"
        units = [i for i in s.indices(r"model\.(\d+)\.weight") if len(s(f"model.{i}.weight")) == 4][1:-1]
    last = max(s.indices(r"model\.(\d+)\.weight"))
    out_nc = s(f"model.{last}.weight")[0]
    return {"in_nc": in_nc, "out_nc": out_nc, "nc": nc, "nb": len(units) + 2,
            "act_mode": batchnorm_act_mode(s, "model."), "variant": variant}


def noisy_images(rng: np.random.Generator, shape) -> np.ndarray:
    """Images in [0, 1] plus AWGN of sigma 25/255, unclipped (as the KAIR test protocol feeds DnCNN)."""
    return (rng.uniform(0.0, 1.0, shape) + rng.normal(0.0, 25 / 255, shape)).astype(np.float32)


def _parity_inputs(rng, full):  # odd, non-square sizes
    return (noisy_images(rng, (1, 40, 36, 1) if full else (2, 17, 15, 1)),)


def _quant_stack(kwargs):
    """jrestore quantize's int8 chain: the BN-folded plain network (the official checkpoints' layout), each conv
    with its ReLU fused, the residual subtraction x - net(x) kept in float."""
    from jrestore.core.quantize import QuantStack, StackLayer

    act_mode, variant = kwargs.get("act_mode", "BR"), kwargs.get("variant", "plain")
    if act_mode != "R" or variant != "plain":
        raise ValueError(f"--model: dncnn quantises with BatchNorm folded into the convolutions (act_mode 'R', "
                         f"variant 'plain', the official checkpoints' layout), got act_mode {act_mode!r}, "
                         f"variant {variant!r}")
    nb = int(kwargs.get("nb", 17))
    layers = []
    for i in range(nb - 1):  # model.0 conv, model.1 ReLU, ..., model.{2nb-2} the tail conv (no ReLU)
        layers.append(StackLayer(f"model.{2 * i}", "conv", fused_relu=True))
        layers.append(StackLayer(f"model.{2 * i + 1}", "relu"))
    layers.append(StackLayer(f"model.{2 * (nb - 1)}", "conv"))
    return QuantStack("dncnn", tuple(layers), residual=True)


SPECS = (ModelSpec(
    "dncnn", "denoise", channels_arg="in_nc", halo=_halo, weights_rule=_weights_rule,
    # KAIR's training layout (act_mode 'BR': BN in the body); full = DnCNN-S, 17 layers, 64 features
    parity=ParityCase(small={"nc": 8, "nb": 4}, inputs=_parity_inputs),
    bench=(BenchEntry("dncnn", {"in_nc": 1, "out_nc": 1, "nc": 64, "nb": 17, "act_mode": "BR"}, batch=16,
                      input_hw=(64, 64), recipe="dncnn_s25"),),
    recipe="dncnn_s25", quant_stack=_quant_stack),)
