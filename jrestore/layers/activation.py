"""Activations as NNX modules with PyTorch's names, defaults and numerics (for Sequential containers).

Parity notes (docs/conventions.md §6):
- PReLU: PyTorch's `nn.PReLU()` has ONE slope, initialised to 0.25; `nn.PReLU(C)` has one per channel
  (dim 1 in NCHW = the last axis here). Flax's PReLU is scalar-only with init 0.01. The leaf is `weight`,
  shape (num_parameters,), as PyTorch's. y = x if x > 0 else weight * x (PyTorch's kernel, also for the
  gradient at 0).
- LeakyReLU: PyTorch's default slope is 0.01; references use 0.1 / 0.2, so pass it.
- GELU: PyTorch's default is the exact erf form; `jax.nn.gelu`'s default is the tanh approximation
  (4.7e-4 apart), so `approximate` follows PyTorch ('none' | 'tanh').
- `inplace` is accepted for constructor parity with PyTorch and ignored (JAX arrays are immutable).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_choice, check_float

__all__ = ["PReLU", "LeakyReLU", "ReLU", "Sigmoid", "Tanh", "GELU"]


class PReLU(nnx.Module):
    """torch.nn.PReLU: x [..., C] float (C == num_parameters unless num_parameters == 1) -> same shape."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, rngs: nnx.Rngs | None = None):
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(f"num_parameters: expected a positive int, got {num_parameters!r}")
        self.num_parameters = num_parameters
        self.weight = nnx.Param(jnp.full((num_parameters,), init, jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        check_float(x, "x")
        if self.num_parameters > 1 and (x.ndim < 1 or x.shape[-1] != self.num_parameters):
            raise ValueError(f"x: expected {self.num_parameters} channels on the last axis (PReLU per channel), "
                             f"got shape {tuple(x.shape)}")
        w = self.weight[...].astype(x.dtype)
        return jnp.where(x > 0, x, w * x)


class LeakyReLU(nnx.Module):
    """torch.nn.LeakyReLU: x -> x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        self.negative_slope = float(negative_slope)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_float(x, "x")
        return jnp.where(x > 0, x, self.negative_slope * x)


class ReLU(nnx.Module):
    """torch.nn.ReLU."""

    def __init__(self, inplace: bool = False):
        pass

    def __call__(self, x: jax.Array) -> jax.Array:
        check_float(x, "x")
        return jax.nn.relu(x)


class Sigmoid(nnx.Module):
    """torch.nn.Sigmoid."""

    def __call__(self, x: jax.Array) -> jax.Array:
        check_float(x, "x")
        return jax.nn.sigmoid(x)


class Tanh(nnx.Module):
    """torch.nn.Tanh."""

    def __call__(self, x: jax.Array) -> jax.Array:
        check_float(x, "x")
        return jnp.tanh(x)


class GELU(nnx.Module):
    """torch.nn.GELU: approximate 'none' (erf, PyTorch's default) or 'tanh'."""

    def __init__(self, approximate: str = "none"):
        check_choice(approximate, "approximate", ("none", "tanh"))
        self.approximate = approximate

    def __call__(self, x: jax.Array) -> jax.Array:
        check_float(x, "x")
        return jax.nn.gelu(x, approximate=self.approximate == "tanh")
