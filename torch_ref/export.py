"""ONNX export of torch_ref models, the twin of `jrestore.export`.

    export_onnx(model, x, "model.onnx")                  # x: [B, C, H, W] float32 in [0, 1]
    check_onnx("model.onnx", model, [x2])                -> max abs diff vs the torch model (onnxruntime)

Exporter: torch 2.13's default, torch.export-based (`dynamo=True`); it needs `onnxscript`, which installs
from the package registry and runs offline (the `export` extra). The TorchScript exporter (`dynamo=False`)
still works but is deprecated since torch 2.9. Dynamic axes are batch, height and width of every input
(FFDNet's sigma [B, 1, 1, 1]: batch only). Where torch.export cannot keep H, W symbolic (a fixed-size
dense layer, as in the SRGAN discriminator) it retries with a dynamic batch only, then fully static;
`onnx_input_shapes(path)` reads back what the file admits. The weights are stored inside the one .onnx
file (no external .data file).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from jrestore._io import atomic_write

__all__ = ["export_onnx", "check_onnx", "onnx_input_shapes", "run_onnx"]


def _as_tuple(example_input) -> tuple:
    return tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)


def _dynamic_shapes(args: tuple, spatial: bool, batch: bool):
    out = []
    for a in args:
        axes = {}
        if batch:
            axes[0] = "batch"
        if spatial and a.dim() == 4 and a.shape[2] > 1:  # sigma [B, 1, 1, 1] keeps 1x1
            axes.update({2: "height", 3: "width"})
        out.append(axes or None)
    return tuple(out)


def export_onnx(model: torch.nn.Module, example_input, path, dynamic: bool = True, *,
                opset_version: int | None = None) -> dict:
    """Export `model` (eval mode) to ONNX at `path`, written atomically (temp file + os.replace).

    Args:
      model: a torch_ref model.
      example_input: a [B, C, H, W] tensor, or a tuple of inputs (FFDNet: (x, sigma [B, 1, 1, 1])).
      path: the .onnx file to write.
      dynamic: dynamic batch / height / width axes (falling back to batch only, then static); False: static.
    Returns {'dynamic': the axes kept dynamic ('batch', 'height', 'width' or fewer), 'fallback': reason or None}.
    """
    args = _as_tuple(example_input)
    for i, a in enumerate(args):
        if not isinstance(a, torch.Tensor) or not a.is_floating_point():
            raise ValueError(f"example_input: expected floating-point tensors, got {type(a).__name__} "
                             f"{getattr(a, 'dtype', '')} at position {i}")
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    attempts = [(True, True), (False, True), (False, False)] if dynamic else [(False, False)]
    errors = []
    found = {}

    def write(tmp: str) -> None:
        for spatial, batch in attempts:
            try:
                with warnings.catch_warnings(), torch.no_grad():
                    warnings.simplefilter("ignore")  # exporter deprecation / tracer chatter
                    torch.onnx.export(model, args, tmp, dynamo=True, external_data=False, verbose=False,
                                      opset_version=opset_version, dynamic_shapes=_dynamic_shapes(args, spatial, batch)
                                      if batch else None, input_names=_input_names(len(args)))
                found.update(spatial=spatial, batch=batch)
                return
            except Exception as err:  # torch.export could not keep these axes symbolic
                errors.append(f"{'spatial' if spatial else 'batch' if batch else 'static'}: "
                              f"{type(err).__name__}: {_first_line(err)}")
        raise ValueError(f"model: ONNX export of {type(model).__name__} failed ({errors[-1]})") from None

    atomic_write(path, write)
    spatial, batch = found["spatial"], found["batch"]
    kept = ["batch", "height", "width"][: 3 if spatial else 1 if batch else 0]
    return {"dynamic": kept, "fallback": "; ".join(errors) or None}


def _input_names(n: int) -> list[str]:
    return ["x", "sigma"][:n] if n <= 2 else [f"input_{i}" for i in range(n)]


def _first_line(err: Exception) -> str:
    lines = [l.strip() for l in str(err).splitlines() if l.strip()]
    # torch.onnx wraps torch.export's error in advice; its "Exception summary" line starts "<class '...'>:"
    summary = next((l for l in lines if l.startswith("<class '")), lines[0] if lines else "")
    return summary[:300]


def onnx_input_shapes(path) -> list[list]:
    """Each graph input's shape: ints for fixed axes, names ('batch', 'height', ...) for dynamic ones."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input]


def run_onnx(path, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run the ONNX file with onnxruntime (CPU) on NCHW float32 inputs; returns the flat outputs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: np.ascontiguousarray(a, np.float32) for i, a in zip(sess.get_inputs(), inputs)}
    return sess.run(None, feed)


def _flat(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _flat(v)]
    return [t for v in out for t in _flat(v)]


def check_onnx(path, model: torch.nn.Module, inputs: Sequence) -> float:
    """Max abs difference between the ONNX file (onnxruntime) and the torch model on `inputs` (one call)."""
    args = _as_tuple(inputs)
    model.eval()
    with torch.no_grad():
        ref = [t.numpy() for t in _flat(model(*args))]
    got = run_onnx(path, [a.numpy() for a in args])
    if len(got) != len(ref):
        raise ValueError(f"path: {path} returns {len(got)} outputs, the model {len(ref)}")
    return max(float(np.max(np.abs(g - r))) if r.size else 0.0 for g, r in zip(got, ref))
