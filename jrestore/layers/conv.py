"""Convolutions with PyTorch's argument semantics, on NHWC arrays.

Parity notes: padding is always PyTorch's explicit per-side padding (never XLA 'SAME', which puts the
odd pixel on the high side and so differs from PyTorch for stride 2); `padding_mode` maps reflect ->
'reflect', replicate -> 'edge', circular -> 'wrap' and pads before a VALID convolution, as PyTorch does.
ConvTranspose2d uses PyTorch's (padding, output_padding) and output size
(H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
Initialisation follows PyTorch's defaults, including ConvTranspose's fan_in taken from out_channels.
Backend: Conv2d's float32 convolutions run on oneDNN (jrestore.ops.onednn) or XLA as
jrestore.runtime.conv_backend() says (JRESTORE_CONV_BACKEND=auto|xla|onednn); the same numbers up to float32
rounding. ConvTranspose2d (input dilation) always uses XLA.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from flax import nnx

from jrestore._validate import check_choice, check_image
from jrestore.ops import onednn
from jrestore.layers.params import ConvKernel, ConvTransposeKernel, torch_default_bias, torch_default_weight
from jrestore.core.layers.conv import (  # noqa: F401  framework-neutral part, shared with torch_ref
    pair)

__all__ = ["Conv2d", "ConvTranspose2d", "pair"]

_PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Conv2d(nnx.Module):
    """torch.nn.Conv2d on NHWC input.

    Args mirror torch.nn.Conv2d. `padding` is an int, a pair (pad_h, pad_w), 'valid' or 'same'
    ('same' only with stride 1, as in PyTorch).
    Call: x [B, H, W, in_channels] float -> [B, H', W', out_channels].
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *, rngs: nnx.Rngs):
        check_choice(padding_mode, "padding_mode", _PAD_MODES)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({groups})")
        kh, kw = pair(kernel_size, "kernel_size")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = (kh, kw)
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            check_choice(padding, "padding", ("valid", "same"))
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"padding: 'same' needs stride 1 (as in PyTorch), got stride {self.stride}")
            if padding == "valid":
                self.padding = ((0, 0), (0, 0))
            else:  # PyTorch puts the odd pixel of 'same' on the high side
                tot = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
                self.padding = tuple((t // 2, t - t // 2) for t in tot)
        else:
            ph, pw = pair(padding, "padding")
            self.padding = ((ph, ph), (pw, pw))
        fan_in = in_channels // groups * kh * kw
        self.weight = ConvKernel(torch_default_weight(rngs.params(), (kh, kw, in_channels // groups, out_channels), fan_in))
        self.bias = nnx.Param(torch_default_bias(rngs.params(), (out_channels,), fan_in)) if bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.in_channels)
        padding = self.padding
        mode = _PAD_MODES[self.padding_mode]
        if mode is not None:
            x = jnp.pad(x, ((0, 0), *padding, (0, 0)), mode=mode)
            padding = ((0, 0), (0, 0))
        w = self.weight[...]
        if onednn.use_onednn(x, w, self.stride, padding, self.dilation, self.groups):  # JRESTORE_CONV_BACKEND
            y = onednn.conv2d(x, w, self.stride, padding, self.dilation, self.groups)
        else:
            y = lax.conv_general_dilated(
                x, w, window_strides=self.stride, padding=padding, rhs_dilation=self.dilation,
                dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=self.groups)
        if self.bias is not None:
            y = y + self.bias[...]
        return y


class ConvTranspose2d(nnx.Module):
    """torch.nn.ConvTranspose2d on NHWC input (zero padding only, as in PyTorch).

    Call: x [B, H, W, in_channels] float -> [B, H_out, W_out, out_channels] with
    H_out = (H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, *, rngs: nnx.Rngs):
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({groups})")
        kh, kw = pair(kernel_size, "kernel_size")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = (kh, kw)
        self.stride = pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self.output_padding = pair(output_padding, "output_padding")
        self.dilation = pair(dilation, "dilation")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(f"output_padding: must be smaller than stride or dilation, got {self.output_padding} with stride {self.stride}, dilation {self.dilation}")
        fan_in = out_channels // groups * kh * kw  # PyTorch computes it from weight.size(1)
        self.weight = ConvTransposeKernel(torch_default_weight(rngs.params(), (kh, kw, in_channels, out_channels // groups), fan_in))
        self.bias = nnx.Param(torch_default_bias(rngs.params(), (out_channels,), fan_in)) if bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.in_channels)
        kh, kw = self.kernel_size
        g = self.groups
        w = self.weight[...]  # [kH, kW, in, out/g] -> forward-conv kernel [kH, kW, in/g, out], spatially flipped
        w = w.reshape(kh, kw, g, self.in_channels // g, self.out_channels // g).transpose(0, 1, 3, 2, 4)
        w = w.reshape(kh, kw, self.in_channels // g, self.out_channels)[::-1, ::-1]
        pads = [(d * (k - 1) - p, d * (k - 1) - p + op)
                for k, p, op, d in zip(self.kernel_size, self.padding, self.output_padding, self.dilation)]
        y = lax.conv_general_dilated(
            x, w, window_strides=(1, 1), padding=pads, lhs_dilation=self.stride, rhs_dilation=self.dilation,
            dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=g)
        if self.bias is not None:
            y = y + self.bias[...]
        return y
