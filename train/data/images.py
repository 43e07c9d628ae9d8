"""Training images at their stored precision: uint8 or uint16 [H, W, C], C = 1 or 3.

Files are read by jrestore.data.image_io.read_image(keep_16bit=True), the reader `restore` uses (its checks:
unreadable, alpha, pixel limit, EXIF orientation): 16-bit files (grey PNG/TIFF, 48-bit RGB PNG/TIFF: MRI/CT
slices, raw-derived photos) come back as uint16 with every bit. Float and 32-bit integer images are refused
(their scale is unknown), as are alpha channels.

    img = read_training_image(path)   # uint8 or uint16
    peak(img)                         # 255 or 65535: the value of white
"""
from __future__ import annotations

import numpy as np

__all__ = ["read_training_image", "image_size", "peak", "PEAKS"]

PEAKS = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def peak(img: np.ndarray) -> int:
    """The white level of a training image's dtype: 255 (uint8) or 65535 (uint16); ValueError otherwise."""
    try:
        return PEAKS[np.dtype(img.dtype)]
    except KeyError:
        raise ValueError(f"image: expected uint8 or uint16 samples, got {img.dtype}") from None


def image_size(path) -> tuple[int, int]:
    """(height, width) from the file header, without decoding."""
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def read_training_image(path) -> np.ndarray:
    """uint8 or uint16 [H, W, C] (C = 1 or 3) as stored; one ValueError naming the file otherwise."""
    from jrestore.data.image_io import read_image

    return read_image(path, keep_16bit=True)
