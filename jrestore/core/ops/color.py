"""The framework-neutral part of jrestore.ops.color: its argument checks, constants and NumPy helpers.

Shared by jrestore.ops.color and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import numpy as np

__all__ = ["MATLAB_RGB_TO_YCBCR", "MATLAB_YCBCR_OFFSET", "MATLAB_YCBCR_TO_RGB", "OPENCV_CB_SCALE",
           "OPENCV_CR_SCALE", "OPENCV_DELTA", "OPENCV_Y_FIXED", "OPENCV_Y_SHIFT", "OPENCV_Y_WEIGHTS",
           "YJN870_Y_OFFSET", "YJN870_Y_WEIGHTS"]


# MATLAB rgb2ycbcr: YCbCr(0..255) = OFFSET + M @ RGB(0..1)
MATLAB_RGB_TO_YCBCR = np.array([[65.481, 128.553, 24.966],
                                [-37.797, -74.203, 112.0],
                                [112.0, -93.786, -18.214]])


MATLAB_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


MATLAB_YCBCR_TO_RGB = np.linalg.inv(MATLAB_RGB_TO_YCBCR)  # exact float64 inverse (MATLAB ycbcr2rgb does the same)


# OpenCV RGB2YCrCb, float path: Y = w . RGB, Cr = (R - Y) * 0.713 + delta, Cb = (B - Y) * 0.564 + delta
OPENCV_Y_WEIGHTS = np.array([0.299, 0.587, 0.114])


OPENCV_CR_SCALE = 0.713


OPENCV_CB_SCALE = 0.564


OPENCV_DELTA = 0.5


# OpenCV 8-bit path (color.simd_helpers / color_yuv): Y = (R2Y R + G2Y G + B2Y B + 2^13) >> 14
OPENCV_Y_FIXED = np.array([4899.0, 9617.0, 1868.0])


OPENCV_Y_SHIFT = 14


# yjn870 FSRCNN-pytorch utils.py: Y(0..255) = 16 + (w . RGB(0..255)) / 256
YJN870_Y_WEIGHTS = np.array([64.738, 129.057, 25.064])


YJN870_Y_OFFSET = 16.0
