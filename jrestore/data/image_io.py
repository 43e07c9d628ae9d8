"""Reading benchmark images and test sets exactly as the reference scripts do.

All readers return uint8 NumPy arrays [H, W, C] (C = 1 or 3) so every protocol starts from the same
bytes; conversion to float happens in the protocol. EXIF orientation is applied (a phone photo comes out
upright, as viewers show it). Refused with one ValueError naming the file: unreadable or truncated files,
16-bit images (grey and 48-bit RGB PNG/TIFF alike: reading them as 8 bits would silently drop precision),
float images, alpha channels, and images over the pixel limit (`max_pixels()`: $JRESTORE_MAX_PIXELS,
default 89,478,485 = Pillow's own decompression-bomb threshold), so a decompression bomb is one line,
not an out-of-memory kill.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

__all__ = ["read_image", "list_images", "read_sr_pairs", "max_pixels", "IMAGE_SUFFIXES", "DEFAULT_MAX_PIXELS"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")
DEFAULT_MAX_PIXELS = 89_478_485  # PIL.Image.MAX_IMAGE_PIXELS's default: 1024 * 1024 * 1024 // 4 // 3
MAX_PIXELS_ENV = "JRESTORE_MAX_PIXELS"


def max_pixels() -> int:
    """The largest image (width * height) read: $JRESTORE_MAX_PIXELS, else DEFAULT_MAX_PIXELS."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_PIXELS_ENV}: expected a positive pixel count, got {text!r}")
    return value


def _bits_per_sample(im) -> int:
    """Bits per stored sample, before Pillow's conversion (which reads 48-bit RGB as 8-bit 'RGB')."""
    bits = 8
    for tile in getattr(im, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and re.search(r";16|;32|^I;|^F", rawmode):
            bits = 16
    tag = getattr(im, "tag_v2", None)  # TIFF BitsPerSample
    if tag is not None and 258 in tag:
        value = tag[258]
        bits = max(bits, max(value) if isinstance(value, tuple) else int(value))
    return bits


def read_image(path, mode: str | None = None) -> np.ndarray:
    """uint8 [H, W, C] image, EXIF orientation applied. mode: None (as stored, palette expanded), 'L' (grey)
    or 'RGB'."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    limit = max_pixels()
    Image.MAX_IMAGE_PIXELS = limit  # Pillow refuses outright at twice this; we refuse at the limit itself
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own check below is the error
            with Image.open(path) as im:
                if im.width * im.height > limit:
                    raise ValueError(f"{path}: image has {im.width * im.height:,} pixels ({im.width}x{im.height}), "
                                     f"over the limit of {limit:,} (a decompression bomb? raise "
                                     f"{MAX_PIXELS_ENV} to read it)")
                if im.mode in ("I;16", "I;16B", "I;16L", "I", "F") or _bits_per_sample(im) > 8:
                    raise ValueError(f"{path}: {_bits_per_sample(im)}-bit {im.mode} image; only 8-bit grey or RGB "
                                     f"images are read (convert it to 8 bits first)")
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    raise ValueError(f"{path}: image has an alpha channel; expected 8-bit grey or RGB without alpha")
                im.load()
                im = ImageOps.exif_transpose(im) or im
                if mode is not None:
                    im = im.convert(mode)
                elif im.mode not in ("L", "RGB"):
                    im = im.convert("RGB")
                arr = np.asarray(im, dtype=np.uint8)
    except Image.DecompressionBombError as err:  # Pillow's own refusal (at twice its limit), in our words
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ValueError(f"{path}: image has {size}, over the limit of {limit:,} (a decompression bomb? raise "
                         f"{MAX_PIXELS_ENV} to read it)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:  # SyntaxError: Pillow's "broken PNG file"
        raise ValueError(f"{path}: not a readable image ({err})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def list_images(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


_PAIR = re.compile(r"^(?P<stem>.+)_SRF_(?P<scale>\d+)_(?P<kind>HR|LR)$")


def read_sr_pairs(folder, scale: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR uint8, LR uint8) for every `*_SRF_{scale}_{HR,LR}.png` pair in `folder` (SelfExSR layout).

    `folder` may be the set's root (holding image_SRF_{scale}/) or that sub-folder itself.
    """
    folder = Path(folder)
    if (folder / f"image_SRF_{scale}").is_dir():
        folder = folder / f"image_SRF_{scale}"
    found: dict[str, dict[str, Path]] = {}
    for p in list_images(folder):
        m = _PAIR.match(p.stem)
        if m and int(m["scale"]) == scale:
            found.setdefault(m["stem"], {})[m["kind"]] = p
    pairs = [(stem, read_image(f["HR"], "RGB"), read_image(f["LR"], "RGB"))
             for stem, f in sorted(found.items()) if {"HR", "LR"} <= f.keys()]
    if not pairs:
        raise ValueError(f"{folder}: no *_SRF_{scale}_HR / *_SRF_{scale}_LR pairs")
    return pairs
