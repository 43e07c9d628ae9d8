"""Parameter kinds and PyTorch-default initialisers.

A parameter's *kind* (its `nnx.Variable` subclass) records the PyTorch layout it stands for, so that
weight conversion is one rule per kind (see `jrestore.convert.torch_state`) and state paths stay equal
to PyTorch `state_dict` keys. Leaves keep PyTorch's names (`weight`, `bias`, `running_mean`, ...).

| kind                 | jrestore layout                | PyTorch layout               |
|----------------------|--------------------------------|------------------------------|
| ConvKernel           | HWIO [kH, kW, in/groups, out]  | OIHW [out, in/groups, kH, kW]|
| ConvTransposeKernel  | HWIO [kH, kW, in, out/groups]  | IOHW [in, out/groups, kH, kW]|
| LinearKernel         | [in, out]                      | [out, in]                    |
| nnx.Param / BatchStat| same                           | same                         |
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["ConvKernel", "ConvTransposeKernel", "LinearKernel", "NonPersistent", "torch_uniform", "torch_default_weight", "torch_default_bias"]


class ConvKernel(nnx.Param):
    """A 2-D convolution kernel stored HWIO; PyTorch stores it OIHW."""


class ConvTransposeKernel(nnx.Param):
    """A transposed-convolution kernel stored [kH, kW, in, out/groups]; PyTorch stores [in, out/groups, kH, kW]."""


class LinearKernel(nnx.Param):
    """A dense kernel stored [in, out]; PyTorch stores [out, in]."""


class NonPersistent(nnx.Variable):
    """A constant buffer kept out of state dicts, like `register_buffer(..., persistent=False)` in PyTorch
    (e.g. a fixed sampling matrix that checkpoints do not carry). Not trained, not converted."""


def torch_uniform(key: jax.Array, shape, bound: float, dtype=jnp.float32) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, minval=-bound, maxval=bound)


def torch_default_weight(key: jax.Array, shape, fan_in: int, dtype=jnp.float32) -> jax.Array:
    """PyTorch's default weight init: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return torch_uniform(key, shape, 1.0 / math.sqrt(fan_in), dtype)


def torch_default_bias(key: jax.Array, shape, fan_in: int, dtype=jnp.float32) -> jax.Array:
    """PyTorch's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan_in."""
    return torch_uniform(key, shape, 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0, dtype)
