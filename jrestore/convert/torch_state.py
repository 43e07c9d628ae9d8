"""Rule-based conversion between PyTorch `state_dict`s and jrestore (Flax NNX) models, both directions.

The rule: a jrestore state path, joined with '.', *is* the PyTorch key (modules and leaves carry
PyTorch's names), and the leaf's kind (see `jrestore.layers.params`) fixes its layout change:

| kind                 | PyTorch -> jrestore          |
|----------------------|------------------------------|
| ConvKernel           | OIHW -> HWIO, transpose(2, 3, 1, 0) |
| ConvTransposeKernel  | IOHW -> [kH, kW, in, out], transpose(2, 3, 0, 1) |
| LinearKernel         | [out, in] -> [in, out], transpose(1, 0) |
| NonPersistent        | not part of a state dict     |
| anything else        | unchanged                    |

Checkpoints saved from `nn.DataParallel` carry a `module.` prefix, which is stripped. Models whose
published checkpoints use other names declare `TORCH_KEY_RENAMES = ((regex, replacement), ...)`,
applied to incoming keys. Conversion is only transposes, so torch -> jrestore -> torch is bit-exact.
This module needs no torch: tensors are read through `.detach().cpu().numpy()`.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Iterable, Mapping

import numpy as np
import jax.numpy as jnp
from flax import nnx

from jrestore.layers.params import PERMUTATIONS, NonPersistent

__all__ = ["ConversionError", "load_torch_state_dict", "torch_state_dict", "to_numpy", "PERMUTATIONS"]



class ConversionError(ValueError):
    """A state dict does not fit the model: names the source, the first offending key and both shapes."""


def to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _perms(variable) -> tuple | None:
    for kind, perms in PERMUTATIONS.items():
        if isinstance(variable, kind):
            return perms
    return None


def _model_leaves(model: nnx.Module) -> "OrderedDict[str, nnx.Variable]":
    leaves = OrderedDict()
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Variable) and not isinstance(node, NonPersistent) and node.get_value() is not None:
            leaves[".".join(str(p) for p in path)] = node
    return leaves


def _rename(key: str, strip_prefixes: Iterable[str], renames: Iterable[tuple[str, str]]) -> str:
    for prefix in strip_prefixes:
        if key.startswith(prefix):
            key = key[len(prefix):]
    for pattern, repl in renames:
        key = re.sub(pattern, repl, key)
    return key


def load_torch_state_dict(model: nnx.Module, state_dict: Mapping, *, source: str = "state dict",
                          strip_prefixes: Iterable[str] = ("module.",), strict: bool = True,
                          renames: Iterable[tuple[str, str]] | None = None) -> nnx.Module:
    """Load a PyTorch state dict (tensors or arrays) into `model` in place and return it.

    Raises ConversionError naming `source`, the first key that is missing, unexpected or of the wrong
    shape, and both shapes in PyTorch layout.
    """
    if not isinstance(state_dict, Mapping):
        raise ConversionError(f"{source}: expected a mapping of parameter names to tensors, got {type(state_dict).__name__}")
    renames = tuple(renames if renames is not None else getattr(model, "TORCH_KEY_RENAMES", ()))
    incoming = OrderedDict((_rename(k, strip_prefixes, renames), v) for k, v in state_dict.items())
    leaves = _model_leaves(model)
    if strict:
        missing = [k for k in leaves if k not in incoming]
        unexpected = [k for k in incoming if k not in leaves]
        if missing or unexpected:
            parts = []
            if missing:
                want = tuple(_torch_shape(leaves[missing[0]]))
                parts.append(f"missing {len(missing)} key(s), first {missing[0]!r} (model expects shape {want}): {missing[:8]}")
            if unexpected:
                got = tuple(to_numpy(incoming[unexpected[0]]).shape)
                parts.append(f"unexpected {len(unexpected)} key(s), first {unexpected[0]!r} (shape {got}): {unexpected[:8]}")
            raise ConversionError(f"{source} does not fit {type(model).__name__}: " + "; ".join(parts))
    for key, variable in leaves.items():
        if key not in incoming:
            continue
        array = to_numpy(incoming[key])
        want = _torch_shape(variable)
        if tuple(array.shape) != tuple(want):
            raise ConversionError(f"{source}: key {key!r} has shape {tuple(array.shape)} but {type(model).__name__} "
                                  f"expects {tuple(want)} (PyTorch layout)")
        perms = _perms(variable)
        if perms is not None:
            array = array.transpose(perms[0])
        # a copy: jnp.asarray may alias the torch tensor's memory, which torch later updates in place
        variable.set_value(jnp.array(array, dtype=variable.get_value().dtype, copy=True))
    return model


def _torch_shape(variable) -> tuple:
    shape = tuple(variable.get_value().shape)
    perms = _perms(variable)
    return tuple(shape[i] for i in perms[1]) if perms is not None else shape


def torch_state_dict(model: nnx.Module) -> "OrderedDict[str, np.ndarray]":
    """The model's state as a PyTorch-layout state dict of NumPy arrays (keys as `nn.Module.state_dict()`)."""
    out = OrderedDict()
    for key, variable in _model_leaves(model).items():
        array = np.asarray(variable.get_value())
        perms = _perms(variable)
        out[key] = np.ascontiguousarray(array.transpose(perms[1])) if perms is not None else array
    return out
