"""Initialisers with torch.nn.init's distributions and fan conventions, and a way to apply them to a model.

Every initialiser takes `(key, shape, ...)` with `shape` in **PyTorch's layout** ([out, in/groups, kH, kW]
for a conv, [in, out/groups, kH, kW] for a transposed conv, [out, in] for a linear layer) and returns an
array in that layout, so fan_in / fan_out and the orthogonal structure are exactly PyTorch's
(`torch.nn.init._calculate_fan_in_and_fan_out`: fan_in = size(1) * kH * kW, fan_out = size(0) * kH * kW).
`init_weights` moves the result into the jrestore layout of each weight's kind.

Parity notes: values cannot match PyTorch's (different random streams); distributions do (std, bounds,
orthogonality). Layers already start from PyTorch's *default* init (jrestore.layers.params); these are
for references that override it (BasicSR `default_init_weights`: kaiming_normal x 0.1 with zero bias;
KAIR orthogonal; ISTA-Net xavier_normal; ...).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_choice
from jrestore.layers.params import PERMUTATIONS, ConvKernel, LinearKernel, random_normal, random_uniform

__all__ = ["calculate_gain", "fan_in_and_fan_out", "uniform", "normal", "constant", "zeros", "ones",
           "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "init_weights"]

_LINEAR_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid")
NONLINEARITIES = _LINEAR_GAIN + ("tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch.nn.init.calculate_gain: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2) (relu),
    sqrt(2 / (1 + slope^2)) (leaky_relu, slope default 0.01), 3/4 (selu)."""
    check_choice(nonlinearity, "nonlinearity", NONLINEARITIES)
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    slope = 0.01 if param is None else param
    if isinstance(slope, bool) or not isinstance(slope, (int, float)):
        raise ValueError(f"param: expected a number (the leaky_relu slope), got {param!r}")
    return math.sqrt(2.0 / (1 + slope ** 2))


def fan_in_and_fan_out(shape: Sequence[int]) -> tuple[int, int]:
    """PyTorch's fans for a PyTorch-layout shape: (size(1) * receptive, size(0) * receptive)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"shape: fan in and fan out need at least 2 dimensions, got {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform(key, shape, a: float = 0.0, b: float = 1.0, dtype=jnp.float32) -> jax.Array:
    """U(a, b)."""
    return random_uniform(key, tuple(shape), a, b, dtype)


def normal(key, shape, mean: float = 0.0, std: float = 1.0, dtype=jnp.float32) -> jax.Array:
    """N(mean, std^2)."""
    return random_normal(key, tuple(shape), mean, std, dtype)


def constant(key, shape, val: float, dtype=jnp.float32) -> jax.Array:
    """Every entry `val` (`key` is ignored; kept so every initialiser has one signature)."""
    return jnp.full(tuple(shape), val, dtype)


def zeros(key, shape, dtype=jnp.float32) -> jax.Array:
    return jnp.zeros(tuple(shape), dtype)


def ones(key, shape, dtype=jnp.float32) -> jax.Array:
    return jnp.ones(tuple(shape), dtype)


def xavier_uniform(key, shape, gain: float = 1.0, dtype=jnp.float32) -> jax.Array:
    """U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform(key, shape, -bound, bound, dtype)


def xavier_normal(key, shape, gain: float = 1.0, dtype=jnp.float32) -> jax.Array:
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return normal(key, shape, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype)


def _kaiming_std(shape, a, mode, nonlinearity) -> float:
    check_choice(mode, "mode", ("fan_in", "fan_out"))
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform(key, shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    dtype=jnp.float32) -> jax.Array:
    """U(-b, b), b = sqrt(3) * gain(nonlinearity, a) / sqrt(fan)."""
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity)
    return uniform(key, shape, -bound, bound, dtype)


def kaiming_normal(key, shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                   dtype=jnp.float32) -> jax.Array:
    """N(0, std^2), std = gain(nonlinearity, a) / sqrt(fan) (defaults: sqrt(2 / fan_in), He init)."""
    return normal(key, shape, 0.0, _kaiming_std(shape, a, mode, nonlinearity), dtype)


def orthogonal(key, shape, gain: float = 1.0, dtype=jnp.float32) -> jax.Array:
    """torch.nn.init.orthogonal_: the [size(0), numel / size(0)] matrix has orthonormal rows (or columns,
    whichever are fewer), times gain; Q of a Gaussian matrix's QR with sign(diag(R)) folded in."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"shape: orthogonal init needs at least 2 dimensions, got {shape}")
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = random_normal(key, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = jnp.linalg.qr(flat)
    q = q * jnp.sign(jnp.diagonal(r))
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype)


def _as_modules(modules) -> list:
    return [modules] if isinstance(modules, nnx.Module) else list(modules)


def init_weights(modules, fn: Callable, *, key: jax.Array, kind=(ConvKernel, LinearKernel), scale: float = 1.0,
                 bias_fill: float | None = None, where: Callable[[str, nnx.Module], bool] | None = None):
    """Re-initialise the `weight` of every sub-module whose weight is of `kind`, in place.

    Mirrors BasicSR's `default_init_weights(module_list, scale, bias_fill)`: weight = fn(...) * scale and,
    when `bias_fill` is given, bias = bias_fill.

    Args:
      modules: an NNX module or a list of them (searched recursively).
      fn: an initialiser `fn(key, torch_shape) -> array` (e.g. `kaiming_normal`, or
        `functools.partial(orthogonal, gain=0.2)`); it sees PyTorch's shape, so fans are PyTorch's.
      key: a PRNG key (e.g. `rngs.params()`); each weight gets `fold_in(key, i)`.
      kind: parameter kind(s) to touch (ConvKernel, ConvTransposeKernel, LinearKernel, or nnx.Param).
      scale: multiplies the drawn weight.
      bias_fill: value for the matching modules' `bias` (None leaves biases alone).
      where: optional predicate on (dotted path, module) to restrict further.
    Returns:
      `modules`, for chaining.
    """
    count = 0
    for root in _as_modules(modules):
        for path, node in nnx.iter_graph(root):
            weight = getattr(node, "weight", None) if isinstance(node, nnx.Module) else None
            if not isinstance(weight, kind):
                continue
            if where is not None and not where(".".join(str(p) for p in path), node):
                continue
            perms = next((p for k, p in PERMUTATIONS.items() if isinstance(weight, k)), None)
            shape = tuple(weight.get_value().shape)
            torch_shape = tuple(shape[i] for i in perms[1]) if perms else shape
            value = jnp.asarray(fn(jax.random.fold_in(key, count), torch_shape)) * scale
            if tuple(value.shape) != torch_shape:
                raise ValueError(f"fn: expected an array of shape {torch_shape} (PyTorch layout), "
                                 f"got {tuple(value.shape)}")
            weight.set_value((value.transpose(perms[0]) if perms else value).astype(weight.get_value().dtype))
            bias = getattr(node, "bias", None)
            if bias_fill is not None and isinstance(bias, nnx.Variable):
                bias.set_value(jnp.full_like(bias.get_value(), bias_fill))
            count += 1
    return modules
