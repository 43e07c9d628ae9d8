"""Convolutions with PyTorch's argument semantics, on NHWC arrays.

Parity notes: padding is always PyTorch's explicit per-side padding (never XLA 'SAME', which puts the
odd pixel on the high side and so differs from PyTorch for stride 2); `padding_mode` maps reflect ->
'reflect', replicate -> 'edge', circular -> 'wrap' and pads before a VALID convolution, as PyTorch does.
ConvTranspose2d uses PyTorch's (padding, output_padding) and output size
(H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
Initialisation follows PyTorch's defaults, including ConvTranspose's fan_in taken from out_channels.
Backend: Conv2d's float32 convolutions run on oneDNN (jrestore.ops.onednn) or XLA as
jrestore.runtime.conv_backend() says (JRESTORE_CONV_BACKEND=auto|xla|onednn); the same numbers up to float32
rounding. ConvTranspose2d always uses XLA.
A strided ConvTranspose2d with dilation 1 runs as one stride-1 convolution and a depth-to-space
(`conv_transpose_phases`, the sub-pixel decomposition; docs/measurements.md#what-is-not-convolution has why);
other settings as a convolution over the stride-dilated input (`conv_transpose_dilated`). Both sum the same
products, so they agree to float32 rounding.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from flax import nnx

from jrestore._validate import check_choice, check_image
from jrestore.ops import onednn
from jrestore.layers.params import ConvKernel, ConvTransposeKernel, torch_default_bias, torch_default_weight
from jrestore.core.layers.conv import (  # noqa: F401  framework-neutral part, shared with torch_ref
    pair)

__all__ = ["Conv2d", "ConvTranspose2d", "pair", "conv2d_nhwc", "conv_transpose_dilated", "conv_transpose_phases"]

_PAD_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def conv2d_nhwc(x: jax.Array, w: jax.Array, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                groups: int = 1, precision=None) -> jax.Array:
    """A convolution on the backend jrestore.runtime.conv_backend() picks (oneDNN or XLA), for every layer
    and model that convolves: x [B, H, W, Cin], w [kH, kW, Cin/groups, Cout] (HWIO), padding per side
    ((top, bottom), (left, right)) -> [B, H', W', Cout]. precision: XLA's, when XLA computes it."""
    if onednn.use_onednn(x, w, stride, padding, dilation, groups):  # JRESTORE_CONV_BACKEND
        return onednn.conv2d(x, w, stride, padding, dilation, groups)
    return lax.conv_general_dilated(x, w, window_strides=stride, padding=padding, rhs_dilation=dilation,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups,
                                    precision=precision)


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
        y = conv2d_nhwc(x, self.weight[...], self.stride, padding, self.dilation, self.groups)
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
        if self.dilation == (1, 1) and self.stride != (1, 1):
            y = conv_transpose_phases(x, self.weight[...], self.stride, self.padding, self.output_padding, self.groups)
        else:
            y = conv_transpose_dilated(x, self.weight[...], self.stride, self.padding, self.output_padding,
                                       self.dilation, self.groups)
        if self.bias is not None:
            y = y + self.bias[...]
        return y


def conv_transpose_dilated(x: jax.Array, w: jax.Array, stride, padding, output_padding, dilation=(1, 1),
                           groups: int = 1) -> jax.Array:
    """PyTorch's conv_transpose2d (no bias) as one convolution over the stride-dilated input (docs/conventions.md §2).

    Args:
      x: [B, H, W, C_in]; w: [kH, kW, C_in, C_out / groups] (ConvTransposeKernel layout); stride, padding,
      output_padding, dilation: pairs.
    Returns:
      [B, H_out, W_out, C_out], H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1.
    Every output pixel costs kH * kW multiply-adds, most of them with inserted zeros, and XLA:CPU computes the
    filter gradient of an input-dilated convolution with a slow generic loop (80 % of FSRCNN's train step):
    `conv_transpose_phases` is the fast form for dilation 1.
    """
    kh, kw, c_in, c_out_g = w.shape
    g = groups
    # [kH, kW, in, out/g] -> forward-conv kernel [kH, kW, in/g, out], spatially flipped
    w = w.reshape(kh, kw, g, c_in // g, c_out_g).transpose(0, 1, 3, 2, 4)
    w = w.reshape(kh, kw, c_in // g, g * c_out_g)[::-1, ::-1]
    pads = [(d * (k - 1) - p, d * (k - 1) - p + op)
            for k, p, op, d in zip((kh, kw), padding, output_padding, dilation)]
    return lax.conv_general_dilated(
        x, w, window_strides=(1, 1), padding=pads, lhs_dilation=tuple(stride), rhs_dilation=tuple(dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=g)


class _PhasePlan(NamedTuple):
    """One spatial axis of `conv_transpose_phases`, the same for every input length n (so symbolic shapes
    export): output phase r (output index o = stride * m + r) reads input x[m + low + u] for window tap u in
    [0, width) with kernel tap taps[u, r] (kernel_size: no tap). The output is stride * n + grow long; each
    phase computes n + extra_rows rows and the interleaved result is cropped by stride * extra_rows - grow."""
    grow: int
    extra_rows: int
    low: int
    width: int
    taps: np.ndarray  # [width, stride] int32


def _phase_plan(k: int, s: int, p: int, op: int) -> _PhasePlan:
    """For kernel k, stride s, padding p, output_padding op (dilation 1).

    PyTorch: out[o] = sum over (i, t) with o = i * s - p + t of x[i] w[t], out length (n - 1) s - 2p + k + op.
    For o = s m + r, the taps t = (r + p) mod s + s j contribute x[m + (r + p) // s - j]: every phase is a
    stride-1 correlation of x with its own taps, and all phases together span input offsets low .. low + width - 1.
    """
    reads = {}  # (input offset, phase) -> kernel tap
    for r in range(s):
        first, base = (r + p) % s, (r + p) // s
        for j, t in enumerate(range(first, k, s)):
            reads[(base - j, r)] = t
    offsets = [o for o, _ in reads]
    low, width = min(offsets), max(offsets) - min(offsets) + 1
    taps = np.full((width, s), k, np.int32)
    for (o, r), t in reads.items():
        taps[o - low, r] = t
    grow = k + op - s - 2 * p
    return _PhasePlan(grow, -(-grow // s), low, width, taps)


def conv_transpose_phases(x: jax.Array, w: jax.Array, stride, padding, output_padding, groups: int = 1) -> jax.Array:
    """PyTorch's conv_transpose2d (no bias, dilation 1) as one stride-1 convolution and a depth-to-space.

    The sub-pixel (phase) decomposition: output pixel (s_h m + r_h, s_w n + r_w) only meets the kernel taps
    of its phase (r_h, r_w), so all s_h * s_w phases are one stride-1 convolution of the input with
    s_h * s_w * C_out output channels (each phase's taps, zeros where a phase has none), whose pixels are
    then interleaved. The same products are summed as in `conv_transpose_dilated` (plus exact zeros), in
    another order: float32 rounding apart, the result is the same. Per output pixel it costs
    width_h * width_w (<= (ceil(k / s) + 1)^2) multiply-adds instead of kH * kW, and its filter gradient is an
    ordinary convolution's.

    Args:
      x: [B, H, W, C_in]; w: [kH, kW, C_in, C_out / groups] (ConvTransposeKernel layout); stride, padding,
      output_padding: pairs.
    Returns:
      [B, H_out, W_out, C_out] as `conv_transpose_dilated` with dilation 1.
    """
    kh, kw, c_in, c_out_g = w.shape
    g = groups
    sh, sw = stride
    plan_h = _phase_plan(kh, sh, padding[0], output_padding[0])
    plan_w = _phase_plan(kw, sw, padding[1], output_padding[1])
    for n, s, plan in ((x.shape[1], sh, plan_h), (x.shape[2], sw, plan_w)):
        if isinstance(n, int) and s * n + plan.grow < 1:
            raise ValueError(f"x: input {tuple(x.shape)} gives an empty ConvTranspose2d output "
                             f"({s} * {n} + {plan.grow} rows or columns)")
    # kernel [width_h, width_w, in/g, (g, phase_h, phase_w, out/g)]: a zero row and column stand for "no tap"
    wz = jnp.pad(w, ((0, 1), (0, 1), (0, 0), (0, 0)))
    kernel = wz[plan_h.taps[:, :, None, None], plan_w.taps[None, None, :, :]]  # [wh, sh, ww, sw, in, out/g]
    kernel = kernel.reshape(plan_h.width, sh, plan_w.width, sw, g, c_in // g, c_out_g)
    kernel = kernel.transpose(0, 2, 5, 4, 1, 3, 6).reshape(plan_h.width, plan_w.width, c_in // g, g * sh * sw * c_out_g)
    pads = []
    for axis, plan in ((1, plan_h), (2, plan_w)):
        lo, hi = -plan.low, plan.extra_rows + plan.low + plan.width - 1
        if lo < 0 or hi < 0:  # negative padding crops: slice instead, so every backend sees padding >= 0
            x = lax.slice_in_dim(x, max(-lo, 0), x.shape[axis] - max(-hi, 0), axis=axis)
        pads.append((max(lo, 0), max(hi, 0)))
    y = lax.conv_general_dilated(x, kernel, window_strides=(1, 1), padding=pads,
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=g)
    b, mh, mw, _ = y.shape
    y = y.reshape(b, mh, mw, g, sh, sw, c_out_g).transpose(0, 1, 4, 2, 5, 3, 6)
    y = y.reshape(b, mh * sh, mw * sw, g * c_out_g)
    for axis, s, plan in ((1, sh, plan_h), (2, sw, plan_w)):
        crop = s * plan.extra_rows - plan.grow  # the last phases' rows past the output's end
        if crop:
            y = lax.slice_in_dim(y, 0, y.shape[axis] - crop, axis=axis)
    return y
