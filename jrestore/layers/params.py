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

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["ConvKernel", "ConvTransposeKernel", "LinearKernel", "NonPersistent", "PERMUTATIONS", "random_uniform",
           "random_normal", "torch_uniform", "torch_default_weight", "torch_default_bias"]


class ConvKernel(nnx.Param):
    """A 2-D convolution kernel stored HWIO; PyTorch stores it OIHW."""


class ConvTransposeKernel(nnx.Param):
    """A transposed-convolution kernel stored [kH, kW, in, out/groups]; PyTorch stores [in, out/groups, kH, kW]."""


class LinearKernel(nnx.Param):
    """A dense kernel stored [in, out]; PyTorch stores [out, in]."""


# kind -> (torch -> jrestore permutation, jrestore -> torch permutation). Defined beside the kinds so that
# layers (init.py) and the converter (jrestore.convert.torch_state) share it without layers importing convert.
PERMUTATIONS = {
    ConvKernel: ((2, 3, 1, 0), (3, 2, 0, 1)),
    ConvTransposeKernel: ((2, 3, 0, 1), (2, 3, 0, 1)),
    LinearKernel: ((1, 0), (1, 0)),
}


class NonPersistent(nnx.Variable):
    """A constant buffer kept out of state dicts, like `register_buffer(..., persistent=False)` in PyTorch
    (e.g. a fixed sampling matrix that checkpoints do not carry). Not trained, not converted."""


_BLOCK = 1 << 16


@functools.partial(jax.jit, static_argnames="kind")
def _block(key: jax.Array, kind: str) -> jax.Array:
    return jax.random.uniform(key, (_BLOCK,)) if kind == "uniform" else jax.random.normal(key, (_BLOCK,))


def _sample(key: jax.Array, shape, kind: str) -> jax.Array:
    # Eager jax.random compiles a sampler for every distinct shape (about a second each on a CPU), which
    # dominated model construction; fixed-size blocks compile once and are cut to shape on the host.
    shape = tuple(shape)
    if isinstance(key, jax.core.Tracer):  # built under a transformation: no host round trip possible
        return jax.random.uniform(key, shape) if kind == "uniform" else jax.random.normal(key, shape)
    n = math.prod(shape)
    blocks = [np.asarray(_block(jax.random.fold_in(key, i), kind)) for i in range(max(1, -(-n // _BLOCK)))]
    return jnp.asarray(np.concatenate(blocks)[:n].reshape(shape))


def random_uniform(key: jax.Array, shape, minval: float = 0.0, maxval: float = 1.0, dtype=jnp.float32) -> jax.Array:
    """U(minval, maxval) samples of `shape`, drawn from `key` (deterministic for a key)."""
    return (minval + (maxval - minval) * _sample(key, shape, "uniform")).astype(dtype)


def random_normal(key: jax.Array, shape, mean: float = 0.0, std: float = 1.0, dtype=jnp.float32) -> jax.Array:
    """N(mean, std^2) samples of `shape`, drawn from `key` (deterministic for a key)."""
    return (mean + std * _sample(key, shape, "normal")).astype(dtype)


def torch_uniform(key: jax.Array, shape, bound: float, dtype=jnp.float32) -> jax.Array:
    return random_uniform(key, shape, -bound, bound, dtype)


def torch_default_weight(key: jax.Array, shape, fan_in: int, dtype=jnp.float32) -> jax.Array:
    """PyTorch's default weight init: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return torch_uniform(key, shape, 1.0 / math.sqrt(fan_in), dtype)


def torch_default_bias(key: jax.Array, shape, fan_in: int, dtype=jnp.float32) -> jax.Array:
    """PyTorch's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan_in."""
    return torch_uniform(key, shape, 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0, dtype)
