"""Twins of jrestore.layers.init, drawing with torch.nn.init (same names, arguments and PyTorch layouts).

`key` is a torch.Generator or None (the global generator). Each function returns a new tensor of `shape`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["calculate_gain", "uniform", "normal", "constant", "zeros", "ones", "xavier_uniform", "xavier_normal",
           "kaiming_uniform", "kaiming_normal", "orthogonal", "init_weights"]

calculate_gain = nn.init.calculate_gain


def _empty(shape, dtype) -> torch.Tensor:
    return torch.empty(tuple(shape), dtype=dtype)


def uniform(key, shape, a: float = 0.0, b: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    return nn.init.uniform_(_empty(shape, dtype), a, b, generator=key)


def normal(key, shape, mean: float = 0.0, std: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    return nn.init.normal_(_empty(shape, dtype), mean, std, generator=key)


def constant(key, shape, val: float, dtype=torch.float32) -> torch.Tensor:
    return nn.init.constant_(_empty(shape, dtype), val)


def zeros(key, shape, dtype=torch.float32) -> torch.Tensor:
    return nn.init.zeros_(_empty(shape, dtype))


def ones(key, shape, dtype=torch.float32) -> torch.Tensor:
    return nn.init.ones_(_empty(shape, dtype))


def xavier_uniform(key, shape, gain: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    return nn.init.xavier_uniform_(_empty(shape, dtype), gain, generator=key)


def xavier_normal(key, shape, gain: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    return nn.init.xavier_normal_(_empty(shape, dtype), gain, generator=key)


def kaiming_uniform(key, shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    dtype=torch.float32) -> torch.Tensor:
    return nn.init.kaiming_uniform_(_empty(shape, dtype), a, mode, nonlinearity, generator=key)


def kaiming_normal(key, shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                   dtype=torch.float32) -> torch.Tensor:
    return nn.init.kaiming_normal_(_empty(shape, dtype), a, mode, nonlinearity, generator=key)


def orthogonal(key, shape, gain: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    return nn.init.orthogonal_(_empty(shape, dtype), gain, generator=key)


@torch.no_grad()
def init_weights(modules, fn: Callable, *, key: torch.Generator | None = None, kind=(nn.Conv2d, nn.Linear),
                 scale: float = 1.0, bias_fill: float | None = None,
                 where: Callable[[str, nn.Module], bool] | None = None):
    """Twin of jrestore.layers.init.init_weights; `kind` is a torch module class (or tuple):
    nn.Conv2d ~ ConvKernel, nn.ConvTranspose2d ~ ConvTransposeKernel, nn.Linear ~ LinearKernel."""
    roots = [modules] if isinstance(modules, nn.Module) else list(modules)
    for root in roots:
        for path, m in root.named_modules():
            if not isinstance(m, kind) or (where is not None and not where(path, m)):
                continue
            value = fn(key, tuple(m.weight.shape)) * scale
            if tuple(value.shape) != tuple(m.weight.shape):
                raise ValueError(f"fn: expected an array of shape {tuple(m.weight.shape)}, got {tuple(value.shape)}")
            m.weight.copy_(value)
            if bias_fill is not None and getattr(m, "bias", None) is not None:
                m.bias.fill_(bias_fill)
    return modules
