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

__all__ = ["read_image", "read_image_cv2_grayscale", "list_images", "read_sr_pairs", "max_pixels", "IMAGE_SUFFIXES",
           "DEFAULT_MAX_PIXELS"]

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


# cv2.imread(path, IMREAD_GRAYSCALE) of a colour file. Checked pixel for pixel against opencv-python 4.14 on
# random colour PNG (with and without gAMA / sRGB chunks, at and around the gamma threshold), palette PNG,
# TIFF, BMP and JPEG files (gAMA 0.3 to 3: all equal but 1.5, see read_image_cv2_grayscale). OpenCV asks
# libpng for png_set_rgb_to_gray(1, 0.299, 0.587); libpng turns the weights into 15-bit integers without
# rounding and, unless gamma correction is on, truncates the sum.
LIBPNG_GREY_WEIGHTS = (9797, 19234, 32768 - 9797 - 19234)  # (int(0.299 * 32768), int(0.587 * 32768), rest)
OPENCV_GREY_WEIGHTS = (4899, 9617, 1868)  # other decoders: cvtColor-style 14-bit, rounded (+ 2^13) >> 14


def _libpng_gamma_table(gamma_fixed: int) -> np.ndarray:
    """libpng png_build_8bit_table: floor(255 (v / 255)^(gamma / 1e5) + 0.5), identity within 5 % of 1."""
    v = np.arange(256)
    if abs(gamma_fixed - 100000) <= 5000:  # png_gamma_significant: PNG_GAMMA_THRESHOLD_FIXED = 5000
        return v
    table = np.floor(255.0 * (v / 255.0) ** (gamma_fixed * 1e-5) + 0.5).astype(np.int64)
    table[0], table[255] = 0, 255
    return table


def read_image_cv2_grayscale(path) -> np.ndarray:
    """uint8 [H, W, 1]: what cv2.imread(path, cv2.IMREAD_GRAYSCALE) returns (KAIR imread_uint(n_channels=1)).

    Grey files give their values. Colour files: PNG through libpng's rgb_to_gray (truncating 15-bit weights;
    with a significant gAMA or an sRGB chunk, libpng's gamma-aware path: to linear with 8-bit tables, weights
    rounded, back), JPEG through libjpeg's own grey output (PIL draft mode), TIFF / BMP and the rest as
    (4899 R + 9617 G + 1868 B + 2^13) >> 14. PIL's convert('L') differs from these on up to half the pixels
    of a PNG by one level. Not reproduced: an embedded ICC profile (libpng may treat it as sRGB), and the
    gamma tables are libpng's floating formula: at gAMA 1.5 (none of 0.3..3 else) 0.3 % of pixels are one off.
    """
    from PIL import Image

    path = Path(path)
    rgb = read_image(path)  # the checks (unreadable, 16-bit, alpha) and grey files as they are
    if rgb.shape[2] == 1:
        return rgb
    with Image.open(path) as im:
        fmt, info = im.format, dict(im.info)
        if fmt == "JPEG":
            im.draft("L", im.size)  # libjpeg decodes straight to grey, as OpenCV asks it to
            if im.mode == "L":
                return np.asarray(im, np.uint8)[:, :, None]
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    if fmt != "PNG":
        wr, wg, wb = OPENCV_GREY_WEIGHTS
        return ((wr * r + wg * g + wb * b + (1 << 13)) >> 14).astype(np.uint8)[:, :, None]
    wr, wg, wb = LIBPNG_GREY_WEIGHTS
    gamma = 45455 if "srgb" in info else (round(info["gamma"] * 100000) if "gamma" in info else None)
    reciprocal = None if gamma is None else int(np.floor(1e10 / gamma + 0.5))  # png_reciprocal
    if gamma is None or (abs(gamma - 100000) <= 5000 and abs(reciprocal - 100000) <= 5000):
        grey = (wr * r + wg * g + wb * b) >> 15  # "the historical approach which simply truncates"
    else:
        to_linear, from_linear = _libpng_gamma_table(reciprocal), _libpng_gamma_table(gamma)
        linear = (wr * to_linear[r] + wg * to_linear[g] + wb * to_linear[b] + (1 << 14)) >> 15
        grey = from_linear[linear]
    grey = np.where((r == g) & (g == b), r, grey)  # libpng copies grey pixels unchanged
    return grey.astype(np.uint8)[:, :, None]


def list_images(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


_PAIR = re.compile(r"^(?P<stem>.+)_SRF_(?P<scale>\d+)_(?P<kind>HR|LR)$")


def read_sr_pairs(folder, scale: int, read=None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR uint8, LR uint8) for every `*_SRF_{scale}_{HR,LR}.png` pair in `folder` (SelfExSR layout).

    `folder` may be the set's root (holding image_SRF_{scale}/) or that sub-folder itself. read: path -> uint8
    [H, W, C] (default: read_image(path, "RGB")); the evaluation passes its protocol's reader.
    """
    read = read or (lambda path: read_image(path, "RGB"))
    folder = Path(folder)
    if (folder / f"image_SRF_{scale}").is_dir():
        folder = folder / f"image_SRF_{scale}"
    found: dict[str, dict[str, Path]] = {}
    for p in list_images(folder):
        m = _PAIR.match(p.stem)
        if m and int(m["scale"]) == scale:
            found.setdefault(m["stem"], {})[m["kind"]] = p
    pairs = [(stem, read(f["HR"]), read(f["LR"]))
             for stem, f in sorted(found.items()) if {"HR", "LR"} <= f.keys()]
    if not pairs:
        raise ValueError(f"{folder}: no *_SRF_{scale}_HR / *_SRF_{scale}_LR pairs")
    return pairs
