"""Training images at their stored precision: uint8 or uint16 [H, W, C], C = 1 or 3.

8-bit files go through jrestore.data.image_io.read_image (its checks: unreadable, alpha, pixel limit, EXIF
orientation). 16-bit files (grey PNG/TIFF, 48-bit RGB PNG/TIFF: MRI/CT slices, raw-derived photos) come back
as uint16 with every bit: Pillow decodes grey ones itself, but turns 48-bit RGB PNG into 8-bit RGB, so that
PNG is decoded twice through Pillow's own inflate and filter code, once keeping each sample's high byte and
once its low byte; 16-bit RGB TIFF is read by tifffile (a scikit-image dependency). Float and 32-bit
integer images are refused (their scale is unknown), as are alpha channels.

    img = read_training_image(path)   # uint8 or uint16
    peak(img)                         # 255 or 65535: the value of white
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

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


def _sixteen_bit(im) -> bool:
    from jrestore.data.image_io import _bits_per_sample

    return im.mode.startswith("I;16") or _bits_per_sample(im) == 16


def read_training_image(path) -> np.ndarray:
    """uint8 or uint16 [H, W, C] (C = 1 or 3) as stored; one ValueError naming the file otherwise."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from jrestore.data.image_io import max_pixels, read_image

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if not _sixteen_bit(im) or im.width * im.height > max_pixels():
                    return read_image(path)  # 8-bit, or refused there with its own message
                if im.mode in ("RGBA", "LA", "PA", "RGBa") or "A" in im.getbands():
                    raise ValueError(f"{path}: 16-bit image with an alpha channel; expected grey or RGB without alpha")
                if im.mode.startswith("I;16"):  # grey PNG / TIFF: Pillow keeps all 16 bits
                    im.load()
                    im = ImageOps.exif_transpose(im) or im
                    arr = np.asarray(im).astype(np.uint16)  # I;16B is big-endian: to native order
                elif im.format == "PNG" and im.mode == "RGB":
                    arr = _png_rgb16(path)
                elif im.format == "TIFF" and im.mode == "RGB":
                    import tifffile

                    arr = np.asarray(tifffile.imread(path))
                    if arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[-1] != 3:
                        raise ValueError(f"{path}: expected a 16-bit RGB TIFF, tifffile read {arr.dtype} {arr.shape}")
                else:
                    raise ValueError(f"{path}: a 16-bit {im.format} image in mode {im.mode} is not read; expected "
                                     f"16-bit grey or RGB PNG/TIFF")
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _png_rgb16(path: Path) -> np.ndarray:
    """uint16 [H, W, 3] of a 48-bit RGB PNG. Pillow's PNG decoder un-filters with the file's own 6-byte pixel
    stride whatever the unpacker, so 'RGB;16B' gives the exact high bytes and 'RGB;16L' (which takes the
    second byte of each big-endian sample) the exact low bytes."""
    from PIL import Image

    def decode(rawmode: str) -> np.ndarray:
        with Image.open(path) as im:
            if any(not re.fullmatch(r"RGB;16B", str(t.args)) for t in im.tile):
                raise ValueError(f"{path}: unexpected 16-bit PNG layout {im.tile!r} (interlaced?)")
            im.tile = [t._replace(args=rawmode) for t in im.tile]
            im.load()
            return np.asarray(im, dtype=np.uint16)

    return (decode("RGB;16B") << 8) | decode("RGB;16L")
