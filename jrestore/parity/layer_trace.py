"""Per-layer outputs of a torch_ref model and its converted jrestore twin, matched by module path.

Torch side: forward hooks. JAX side: an eager run with each submodule class's `__call__` wrapped for the
duration of the call, recording the output of every instance under its NNX path (the same dotted path
as the torch module name, by the naming rule). Used by `jrestore verify` to show where a mismatch starts.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Callable

import jax
import numpy as np
import torch
from flax import nnx

from jrestore.convert import to_numpy


def _first_array(out):
    leaves = jax.tree_util.tree_leaves(out)
    return leaves[0] if leaves else None


def torch_trace(model: torch.nn.Module, inputs) -> "OrderedDict[str, np.ndarray]":
    outputs, handles = OrderedDict(), []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(_m, _i, out, name=name):
            first = out if isinstance(out, torch.Tensor) else _first_array(out)
            if isinstance(first, torch.Tensor):
                outputs.setdefault(name, to_numpy(first).copy())
        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return outputs


@contextlib.contextmanager
def _wrapped_calls(paths: dict, outputs: dict):
    originals = {}
    callable_classes = {type(m) for m in paths.values()
                        if any("__call__" in k.__dict__ for k in type(m).__mro__ if k is not object)}
    for cls in callable_classes:
        original = cls.__call__

        def wrapper(self, *args, __original=original, **kwargs):
            out = __original(self, *args, **kwargs)
            name = paths_by_id.get(id(self))
            first = _first_array(out)
            if name is not None and first is not None:
                outputs.setdefault(name, np.asarray(first))
            return out
        originals[cls] = (original, "__call__" in cls.__dict__)
        cls.__call__ = wrapper
    paths_by_id = {id(m): p for p, m in paths.items()}
    try:
        yield
    finally:
        for cls, (original, own) in originals.items():
            if own:
                cls.__call__ = original
            else:
                del cls.__call__


def jax_trace(model: nnx.Module, inputs) -> "OrderedDict[str, np.ndarray]":
    paths = {".".join(str(p) for p in path): node for path, node in nnx.iter_graph(model)
             if isinstance(node, nnx.Module) and path}
    outputs: dict = {}
    with _wrapped_calls(paths, outputs):
        model(*inputs)
    return outputs


def layer_table(tm: torch.nn.Module, jm: nnx.Module, t_inputs, j_inputs,
                module_path: Callable[[str], str] | None = None) -> list[dict]:
    """Rows {layer, shape, max_abs, scale} in torch execution order, for layers traced in both frameworks.

    `module_path` maps a torch module name to its NNX path when the two differ (default: the same name);
    rows carry the torch name.
    """
    t_out, j_out = torch_trace(tm, t_inputs), jax_trace(jm, j_inputs)
    rows = []
    for name, t in t_out.items():
        path = module_path(name) if module_path is not None else name
        if path not in j_out:
            continue
        j = j_out[path]
        if t.ndim == 4:
            t = t.transpose(0, 2, 3, 1)
        if t.shape != j.shape:
            rows.append({"layer": name, "shape": list(j.shape), "max_abs": float("inf"), "scale": 0.0,
                         "note": f"shape {j.shape} (jax) vs {t.shape} (torch)"})
            continue
        diff = np.abs(j.astype(np.float64) - t.astype(np.float64))
        rows.append({"layer": name, "shape": list(j.shape), "max_abs": float(diff.max()) if diff.size else 0.0,
                     "scale": float(np.abs(t).max()) if t.size else 0.0})
    return rows
