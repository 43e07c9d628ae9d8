"""Dense layer with PyTorch's semantics and names.

Parity notes: the kernel is stored [in, out] (kind LinearKernel; PyTorch stores [out, in]), so conversion
is one transpose. Init is PyTorch's default, U(-1/sqrt(in), 1/sqrt(in)) for weight and bias (Flax's
default is lecun_normal weights and zero bias, docs/conventions.md §8).
"""
from __future__ import annotations

import jax
from flax import nnx

from jrestore._validate import check_float
from jrestore.layers.params import LinearKernel, torch_default_bias, torch_default_weight

__all__ = ["Linear", "check_features"]


def check_features(x, name: str, features: int) -> None:
    """Raise unless `x` is a float array whose last axis has `features` entries."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) < 1 or shape[-1] != features:
        raise ValueError(f"{name}: expected a last axis of size {features}, got shape {shape}")
    check_float(x, name)


class Linear(nnx.Module):
    """torch.nn.Linear: x [..., in_features] float -> [..., out_features]."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, rngs: nnx.Rngs):
        for value, name in ((in_features, "in_features"), (out_features, "out_features")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = LinearKernel(torch_default_weight(rngs.params(), (in_features, out_features), in_features))
        self.bias = nnx.Param(torch_default_bias(rngs.params(), (out_features,), in_features)) if bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        check_features(x, "x", self.in_features)
        y = x @ self.weight[...]
        if self.bias is not None:
            y = y + self.bias[...]
        return y
