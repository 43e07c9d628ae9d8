"""Twins of jrestore.ops.resize on NCHW tensors.

imresize_matlab applies the same float64 contribution matrices (jrestore.ops.resize.matlab_weights, one
definition) with torch.einsum; the other resizes are PyTorch's own F.interpolate, the reference semantics.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from jrestore._validate import check_image
from jrestore.core.ops.resize import matlab_weights, resolve_size, scale_pair

__all__ = ["imresize_matlab", "resize_bicubic_torch", "resize_bicubic_pil", "resize_bilinear_torch",
           "resize_nearest_exact", "interpolate_bilinear_torch", "quantize_uint8"]


def _hw(x) -> tuple[int, int]:
    check_image(x, "x", layout="NCHW", rank=(3, 4))
    return x.shape[-2], x.shape[-1]


def imresize_matlab(x: torch.Tensor, scale=None, size=None, antialias: bool = True) -> torch.Tensor:
    """MATLAB-compatible bicubic imresize. x: [B, C, H, W] or [C, H, W] float."""
    h, w = _hw(x)
    (oh, ow), (sh, sw) = resolve_size((h, w), scale, size)
    wh = torch.from_numpy(matlab_weights(h, oh, sh, antialias)).to(x.dtype)
    ww = torch.from_numpy(matlab_weights(w, ow, sw, antialias)).to(x.dtype)
    y = torch.einsum("oh,...hw->...ow", wh, x)
    return torch.einsum("pw,...ow->...op", ww, y)


def _interpolate(x, scale, size, mode: str, antialias: bool):
    h, w = _hw(x)
    if scale is not None and size is None:
        sh, sw = scale_pair(scale)
        size = (int(math.floor(h * sh)), int(math.floor(w * sw)))
    (oh, ow), _ = resolve_size((h, w), None, size)
    batched = x if x.dim() == 4 else x[None]
    kwargs = {} if mode == "nearest-exact" else {"align_corners": False}
    y = F.interpolate(batched, size=(oh, ow), mode=mode, antialias=antialias, **kwargs)
    return y if x.dim() == 4 else y[0]


def resize_bicubic_torch(x: torch.Tensor, size=None, scale=None) -> torch.Tensor:
    """F.interpolate(mode='bicubic', align_corners=False): a=-0.75, clamped edges, no antialias."""
    return _interpolate(x, scale, size, "bicubic", antialias=False)


def resize_bicubic_pil(x: torch.Tensor, size=None, scale=None) -> torch.Tensor:
    """F.interpolate(mode='bicubic', antialias=True) = PIL float BICUBIC."""
    return _interpolate(x, scale, size, "bicubic", antialias=True)


def resize_bilinear_torch(x: torch.Tensor, size=None, scale=None) -> torch.Tensor:
    return _interpolate(x, scale, size, "bilinear", antialias=False)


def resize_nearest_exact(x: torch.Tensor, size=None, scale=None) -> torch.Tensor:
    return _interpolate(x, scale, size, "nearest-exact", antialias=False)


def interpolate_bilinear_torch(x: torch.Tensor, size=None, scale=None) -> torch.Tensor:
    """F.interpolate(x, size=size or scale_factor=scale, mode='bilinear', align_corners=False) itself.

    x: [B, C, H, W] or [C, H, W]. `scale` goes to F.interpolate as scale_factor (not converted to a size), so
    the coordinate map is 1 / scale, as in BasicSR's MSRResNet.
    """
    _hw(x)
    if (scale is None) == (size is None):
        raise ValueError(f"scale/size: give exactly one of them, got scale={scale!r}, size={size!r}")
    if scale is not None:
        scales = scale_pair(scale)
        kwargs = {"scale_factor": tuple(float(s) for s in scales)}
    else:
        kwargs = {"size": resolve_size(_hw(x), None, size)[0]}
    batched = x if x.dim() == 4 else x[None]
    y = F.interpolate(batched, mode="bilinear", align_corners=False, **kwargs)
    return y if x.dim() == 4 else y[0]


def quantize_uint8(x: torch.Tensor) -> torch.Tensor:
    """round(clip(x, 0, 1) * 255) / 255 (half-to-even)."""
    return torch.round(torch.clamp(x, 0.0, 1.0) * 255.0) / 255.0
