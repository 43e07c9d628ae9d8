"""Per-layer quantisation sensitivity (`jrestore quantize --sensitivity`): which layer's int8 costs the PSNR.

What users of torch.ao's Numeric Suite, AIMET's quant analyzer and TensorRT's per-layer precision run before
choosing float layers or a better observer. From one post-training calibration (every activation point
calibrated, all convolutions int8) and the float weights, it builds and scores on a test folder:

    float          the float model
    int8           every convolution int8 (the PTQ model `jrestore quantize` writes)
    weights only   every convolution's weights on their int8 grid, activations float (an int8 file with every
                   layer float, weights dequantised: runs in both frameworks)
    activations    every activation point on its uint8 grid, weights float (JAX only: PyTorch's converted graph
      only         has no int8 activations without int8 convolutions)
    layer P        only convolution P int8 (its input quantised, int8 weights, its output requantised), every
                   other layer float: an int8 file with `float_layers` = all the others, run as `eval` runs it

    rows = sensitivity(stack, kwargs, int8_tensors, float_tensors, evaluate_task, framework)
Each row: {"name", "kind", "psnr", "drop", "framework"} (drop = float PSNR - the row's, dB; framework None:
the caller's).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from jrestore.core.quantize import QuantStack, compose_tensors

__all__ = ["sensitivity_rows", "weights_only_tensors", "activations_only_tensors"]


def weights_only_tensors(stack: QuantStack, int8_tensors: Mapping) -> dict:
    """Every convolution float with its weights dequantised from the int8 ones (q * scale, PyTorch layout), no
    activation quantisation: the weights' share of the int8 loss."""
    out = {}
    for layer in stack.quantised:
        p = layer.prefix
        if layer.kind == "prelu":
            out[f"{p}.weight"] = int8_tensors[f"{p}.weight"]
            continue
        q = int8_tensors[f"{p}.weight"].astype(np.float32)
        scale = int8_tensors[f"{p}.weight_scale"].astype(np.float32)
        shape = (-1, 1, 1, 1) if layer.kind == "conv" else (1, -1, 1, 1)
        out[f"{p}.weight"] = (q * (scale.reshape(shape) if scale.size > 1 else scale[0])).astype(np.float32)
        out[f"{p}.bias"] = int8_tensors[f"{p}.bias"]
    return out


def activations_only_tensors(stack: QuantStack, int8_tensors: Mapping, float_tensors: Mapping) -> dict:
    """Every convolution float (float weights) with every activation point's parameters kept: run by
    jrestore.quantize.int8_apply, which puts an activation on its grid wherever parameters are given."""
    out = {k: v for k, v in float_tensors.items()}
    out |= {k: v for k, v in int8_tensors.items() if k.startswith("input.") or ".output_" in k}
    return out


def sensitivity_rows(stack: QuantStack, int8_tensors: Mapping, float_tensors: Mapping,
                     score: Callable[[QuantStack, Mapping, tuple], float], float_psnr: float) -> list[dict]:
    """The report's rows (see the module docstring). `int8_tensors`: all-int8 PTQ tensors with every point;
    `float_tensors`: the float weights (PyTorch layout); score(stack, tensors, frameworks) -> mean PSNR of
    that int8 model on the test data, frameworks ('jax',) for the JAX-only row or () for the caller's."""
    every = stack.with_float_layers(())
    all_float = every.with_float_layers(every.convs)

    def row(name, kind, psnr, framework=None):
        return {"name": name, "kind": kind, "psnr": psnr, "drop": float_psnr - psnr, "framework": framework}

    rows = [row("float", "float", float_psnr),
            row("int8 (all layers)", "all", score(every, compose_tensors(every, int8_tensors, float_tensors), ())),
            row("weights only", "weights", score(all_float, weights_only_tensors(every, int8_tensors), ())),
            row("activations only", "activations",
                score(all_float, activations_only_tensors(every, int8_tensors, float_tensors), ("jax",)), "jax")]
    for name in every.convs:
        alone = every.with_float_layers([p for p in every.convs if p != name])
        rows.append(row(name, "layer", score(alone, compose_tensors(alone, int8_tensors, float_tensors), ())))
    return rows
