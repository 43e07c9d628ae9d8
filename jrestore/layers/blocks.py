"""Containers and small residual blocks with PyTorch attribute names.

Parity notes:
- `Sequential` is an `nnx.List` that calls its items in order, so state paths are `body.0.weight`,
  `body.2.bias`, ... exactly like torch.nn.Sequential's state_dict keys (parameter-free items such as
  ReLU keep their index, as in PyTorch).
- ResidualBlockNoBN is BasicSR's (`basicsr/archs/arch_util.py`): conv3x3-ReLU-conv3x3, identity +
  res_scale * branch. With pytorch_init=False (BasicSR's default) both convs get kaiming_normal_ (fan_in,
  a=0) scaled by 0.1 and zero biases (`default_init_weights(..., 0.1)`); True keeps PyTorch's default init.
- SRResNetBlock is the SRGAN paper's residual block as in common PyTorch ports (e.g. leftthomas/SRGAN):
  conv3x3-BN-PReLU-conv3x3-BN plus identity; PReLU is scalar (`nn.PReLU()`, 0.25); convs have biases.
- DepthwiseSeparableConv2d: a depthwise conv (groups=in_ch) then a 1x1 pointwise conv.
"""
from __future__ import annotations

import jax
from flax import nnx

from jrestore.layers.activation import PReLU, ReLU
from jrestore.layers.conv import Conv2d
from jrestore.layers.init import init_weights, kaiming_normal
from jrestore.layers.norm import BatchNorm2d

__all__ = ["Sequential", "DepthwiseSeparableConv2d", "ResidualBlockNoBN", "SRResNetBlock"]


class Sequential(nnx.List):
    """torch.nn.Sequential: calls `layers` in order; item i's leaves live under path `i`."""

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise ValueError(f"layers[{i}]: expected a callable layer, got {type(layer).__name__}")
        super().__init__(layers)

    def __call__(self, x):
        for layer in self:
            x = layer(x)
        return x


class DepthwiseSeparableConv2d(nnx.Module):
    """depthwise kxk (groups=in_ch) then pointwise 1x1: x [B, H, W, in_ch] -> [B, H', W', out_ch]."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size=3, padding=1, bias: bool = True, *, rngs: nnx.Rngs):
        self.depthwise = Conv2d(in_ch, in_ch, kernel_size, padding=padding, groups=in_ch, bias=bias, rngs=rngs)
        self.pointwise = Conv2d(in_ch, out_ch, 1, bias=bias, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.pointwise(self.depthwise(x))


class ResidualBlockNoBN(nnx.Module):
    """BasicSR's residual block without BN: x + res_scale * conv2(relu(conv1(x))), x [B, H, W, num_feat]."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, pytorch_init: bool = False, *, rngs: nnx.Rngs):
        self.res_scale = float(res_scale)
        self.conv1 = Conv2d(num_feat, num_feat, 3, 1, 1, bias=True, rngs=rngs)
        self.conv2 = Conv2d(num_feat, num_feat, 3, 1, 1, bias=True, rngs=rngs)
        self.relu = ReLU(inplace=True)
        if not pytorch_init:
            init_weights([self.conv1, self.conv2], kaiming_normal, key=rngs.params(), scale=0.1, bias_fill=0.0)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


class SRResNetBlock(nnx.Module):
    """SRResNet residual block: x + bn2(conv2(prelu(bn1(conv1(x))))), x [B, H, W, num_feat]."""

    def __init__(self, num_feat: int = 64, bias: bool = True, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(num_feat, num_feat, 3, 1, 1, bias=bias, rngs=rngs)
        self.bn1 = BatchNorm2d(num_feat)
        self.prelu = PReLU()
        self.conv2 = Conv2d(num_feat, num_feat, 3, 1, 1, bias=bias, rngs=rngs)
        self.bn2 = BatchNorm2d(num_feat)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))
