"""Twin of jrestore.ops.color on NCHW tensors; the coefficients are jrestore's NumPy constants."""
from __future__ import annotations

import torch

from jrestore._validate import check_image
from jrestore.core.ops.color import (MATLAB_RGB_TO_YCBCR, MATLAB_YCBCR_OFFSET, MATLAB_YCBCR_TO_RGB, OPENCV_CB_SCALE,
                                OPENCV_CR_SCALE, OPENCV_DELTA, OPENCV_Y_FIXED, OPENCV_Y_SHIFT, OPENCV_Y_WEIGHTS,
                                YJN870_Y_OFFSET, YJN870_Y_WEIGHTS)

__all__ = ["rgb_to_ycbcr_matlab", "ycbcr_to_rgb_matlab", "rgb_to_y_matlab", "rgb_to_ycrcb_opencv",
           "ycrcb_to_rgb_opencv", "rgb_to_y_opencv", "rgb_to_y_opencv_uint8", "rgb_to_y_yjn870"]


def _rgb(x, name="x"):
    check_image(x, name, layout="NCHW", channels=3)
    return x[:, 0], x[:, 1], x[:, 2]


def _combine(row, c0, c1, c2):
    a, b, c = (float(v) for v in row)
    return a * c0 + b * c1 + c * c2


def rgb_to_ycbcr_matlab(x: torch.Tensor) -> torch.Tensor:
    """MATLAB rgb2ycbcr. x: [B, 3, H, W] RGB in [0, 1] -> [B, 3, H, W] YCbCr / 255."""
    r, g, b = _rgb(x)
    out = [(float(o) + _combine(m, r, g, b)) / 255.0 for m, o in zip(MATLAB_RGB_TO_YCBCR, MATLAB_YCBCR_OFFSET)]
    return torch.stack(out, dim=1)


def ycbcr_to_rgb_matlab(x: torch.Tensor) -> torch.Tensor:
    """Exact inverse of rgb_to_ycbcr_matlab. x: [B, 3, H, W] YCbCr / 255 -> [B, 3, H, W] RGB (unclipped)."""
    y, cb, cr = _rgb(x)
    y, cb, cr = (v * 255.0 - float(o) for v, o in zip((y, cb, cr), MATLAB_YCBCR_OFFSET))
    return torch.stack([_combine(m, y, cb, cr) for m in MATLAB_YCBCR_TO_RGB], dim=1)


def rgb_to_y_matlab(x: torch.Tensor) -> torch.Tensor:
    """Y of MATLAB rgb2ycbcr, not rounded. x: [B, 3, H, W] in [0, 1] -> [B, 1, H, W]."""
    r, g, b = _rgb(x)
    return ((float(MATLAB_YCBCR_OFFSET[0]) + _combine(MATLAB_RGB_TO_YCBCR[0], r, g, b)) / 255.0)[:, None]


def rgb_to_ycrcb_opencv(x: torch.Tensor) -> torch.Tensor:
    """OpenCV RGB2YCrCb (float path). x: [B, 3, H, W] RGB in [0, 1] -> [B, 3, H, W] in order Y, Cr, Cb."""
    r, g, b = _rgb(x)
    y = _combine(OPENCV_Y_WEIGHTS, r, g, b)
    return torch.stack([y, (r - y) * OPENCV_CR_SCALE + OPENCV_DELTA, (b - y) * OPENCV_CB_SCALE + OPENCV_DELTA], 1)


def ycrcb_to_rgb_opencv(x: torch.Tensor) -> torch.Tensor:
    """Exact inverse of rgb_to_ycrcb_opencv. x: [B, 3, H, W] (Y, Cr, Cb) -> [B, 3, H, W] RGB (unclipped)."""
    y, cr, cb = _rgb(x)
    r = y + (cr - OPENCV_DELTA) / OPENCV_CR_SCALE
    b = y + (cb - OPENCV_DELTA) / OPENCV_CB_SCALE
    wr, wg, wb = (float(v) for v in OPENCV_Y_WEIGHTS)
    g = (y - wr * r - wb * b) / wg
    return torch.stack([r, g, b], dim=1)


def rgb_to_y_opencv(x: torch.Tensor) -> torch.Tensor:
    """Y = 0.299 R + 0.587 G + 0.114 B, not rounded. x: [B, 3, H, W] in [0, 1] -> [B, 1, H, W]."""
    r, g, b = _rgb(x)
    return _combine(OPENCV_Y_WEIGHTS, r, g, b)[:, None]


def rgb_to_y_opencv_uint8(x: torch.Tensor) -> torch.Tensor:
    """Y of cv2.cvtColor on uint8 RGB (x rounded to the uint8 grid, 14-bit fixed point, exact).

    x: [B, 3, H, W] in [0, 1] -> [B, 1, H, W] on k / 255.
    """
    r, g, b = (torch.round(torch.clamp(c, 0.0, 1.0) * 255.0) for c in _rgb(x))
    y = torch.floor((_combine(OPENCV_Y_FIXED, r, g, b) + 2.0 ** (OPENCV_Y_SHIFT - 1)) / 2.0 ** OPENCV_Y_SHIFT)
    return (y / 255.0)[:, None]


def rgb_to_y_yjn870(x: torch.Tensor) -> torch.Tensor:
    """yjn870 FSRCNN-pytorch Y (0..255 formula, then / 255). x: [B, 3, H, W] in [0, 1] -> [B, 1, H, W]."""
    r, g, b = _rgb(x)
    y = YJN870_Y_OFFSET + _combine(YJN870_Y_WEIGHTS, r * 255.0, g * 255.0, b * 255.0) / 256.0
    return (y / 255.0)[:, None]
