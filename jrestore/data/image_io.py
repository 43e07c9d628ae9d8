"""Reading benchmark images and test sets exactly as the reference scripts do, and images at full depth.

The protocol readers return uint8 NumPy arrays [H, W, C] (C = 1 or 3) so every protocol starts from the
same bytes; conversion to float happens in the protocol. EXIF orientation is applied (a phone photo comes
out upright, as viewers show it). Refused with one ValueError naming the file: unreadable or truncated files,
16-bit images (grey and 48-bit RGB PNG/TIFF alike: reading them as 8 bits would silently drop precision;
`read_image(path, keep_16bit=True)` reads them as uint16, as `jrestore restore` does),
float images, alpha channels, and images over the pixel limit (`max_pixels()`: $JRESTORE_MAX_PIXELS,
default 89,478,485 = Pillow's own decompression-bomb threshold), so a decompression bomb is one line,
not an out-of-memory kill.
"""
from __future__ import annotations

import os
import re
import struct
import sys
import zlib
import warnings
from pathlib import Path

import numpy as np

__all__ = ["read_image", "write_image", "read_image_cv2_grayscale", "peak_value", "list_images", "read_sr_pairs",
           "max_pixels", "IMAGE_SUFFIXES", "DEFAULT_MAX_PIXELS"]

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


def read_image(path, mode: str | None = None, keep_16bit: bool = False) -> np.ndarray:
    """uint8 [H, W, C] image, EXIF orientation applied. mode: None (as stored, palette expanded), 'L' (grey)
    or 'RGB'.

    keep_16bit: 16-bit grey and 48-bit RGB PNG / TIFF files come back as uint16 [H, W, 1 or 3] with every
    bit (mode None or 'RGB' only; 'RGB' repeats a grey image) instead of being refused; 8-bit files are
    read exactly as without it. The protocols never set it: the reference scripts read 8 bits.
    """
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
                sixteen = im.mode in ("I;16", "I;16B", "I;16L", "I", "F") or _bits_per_sample(im) > 8
                if sixteen and keep_16bit:
                    arr = _read_16bit(im, path)
                    if mode == "RGB" and arr.shape[2] == 1:
                        arr = np.repeat(arr, 3, axis=2)
                    elif mode not in (None, "RGB") and not (mode == "L" and arr.shape[2] == 1):
                        raise ValueError(f"mode: a 16-bit image is read as stored or as 'RGB', got {mode!r}")
                    return arr
                if sixteen:
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


def peak_value(image: np.ndarray) -> int:
    """The value of white for an image's dtype: 255 (uint8) or 65535 (uint16); ValueError otherwise."""
    if image.dtype == np.uint8:
        return 255
    if image.dtype == np.uint16:
        return 65535
    raise ValueError(f"image: expected uint8 or uint16 samples, got {image.dtype}")


def _other_byte_rawmode(rawmode: str) -> str:
    """The rawmode that unpacks the other byte of each 16-bit sample ('RGB;16B' -> 'RGB;16L'; native 'N' is the
    machine's order, so its other byte is the opposite one)."""
    order = rawmode[-1]
    if order == "N":
        order = "L" if sys.byteorder == "little" else "B"
    return rawmode[:-1] + ("L" if order == "B" else "B")


def _read_16bit(im, path: Path) -> np.ndarray:
    """uint16 [H, W, 1 or 3] of an open 16-bit image, EXIF orientation applied.

    Grey (I;16*) Pillow keeps at 16 bits. 48-bit RGB it unpacks to 8 bits, keeping each sample's high byte;
    its decoders (PNG inflate + un-filtering with the file's 6-byte pixel stride, TIFF raw and libtiff) do not
    depend on the unpacker, so decoding a second time with the other byte order's rawmode gives the exact low
    bytes. Alpha, float and 32-bit integer images are refused (their white level is unknown)."""
    from PIL import Image, ImageOps

    if "A" in im.getbands() or im.mode in ("PA",):
        raise ValueError(f"{path}: 16-bit image with an alpha channel; expected grey or RGB without alpha")
    if im.mode in ("I;16", "I;16B", "I;16L"):
        im.load()
        im = ImageOps.exif_transpose(im) or im
        return np.asarray(im).astype(np.uint16)[:, :, None]  # I;16B is big-endian: to native order
    if im.mode == "I" and _bits_per_sample(im) <= 16:  # some 16-bit grey decoders give 32-bit 'I'
        im.load()
        im = ImageOps.exif_transpose(im) or im
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise ValueError(f"{path}: a 16-bit grey image holding values outside 0..65535")
        return arr.astype(np.uint16)[:, :, None]
    rawmodes = [t.args if isinstance(t.args, str) else (t.args or ("",))[0] for t in im.tile]
    if im.mode != "RGB" or not rawmodes or not all(re.fullmatch(r"RGB;16[BLN]", str(r)) for r in rawmodes):
        raise ValueError(f"{path}: a {_bits_per_sample(im)}-bit {im.format} image in mode {im.mode} "
                         f"({', '.join(map(str, rawmodes))}) is not read; expected 8- or 16-bit grey or RGB")

    def decode(swap: bool) -> np.ndarray:
        with Image.open(path) as again:
            tiles = []
            for t in again.tile:
                raw = t.args if isinstance(t.args, str) else t.args[0]
                raw = _other_byte_rawmode(raw) if swap else raw
                tiles.append(t._replace(args=raw if isinstance(t.args, str) else (raw, *t.args[1:])))
            again.tile = tiles
            again.load()
            again = ImageOps.exif_transpose(again) or again
            return np.asarray(again, dtype=np.uint16)

    return (decode(False) << 8) | decode(True)


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


# ---- writing ----

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _encode_png16(image: np.ndarray) -> bytes:
    """A 16-bit grey or RGB PNG of uint16 [H, W, 1 or 3] (Pillow writes no 48-bit RGB). Every row uses the
    Paeth filter (computed on whole arrays, no per-pixel loop), then zlib; any PNG reader decodes it."""
    h, w, c = image.shape
    bpp = 2 * c
    rows = np.ascontiguousarray(image.astype(">u2")).view(np.uint8).reshape(h, w * bpp).astype(np.int16)
    up = np.zeros_like(rows)
    up[1:] = rows[:-1]
    left = np.zeros_like(rows)
    left[:, bpp:] = rows[:, :-bpp]
    up_left = np.zeros_like(rows)
    up_left[:, bpp:] = up[:, :-bpp]
    p = left + up - up_left
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
    predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    filtered = ((rows - predictor) % 256).astype(np.uint8)
    raw = np.concatenate([np.full((h, 1), 4, np.uint8), filtered], axis=1).tobytes()  # filter type 4: Paeth
    colour_type = 0 if c == 1 else 2
    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw, 6))
            + _png_chunk(b"IEND", b""))


def _encode_tiff16_rgb(image: np.ndarray) -> bytes:
    """An uncompressed little-endian baseline TIFF of uint16 [H, W, 3] (Pillow writes no 48-bit RGB TIFF)."""
    h, w, _ = image.shape
    pixels = np.ascontiguousarray(image.astype("<u2")).tobytes()
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, None), (277, 3, 1, 3), (278, 4, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    bits_offset = ifd_offset + ifd_size
    data_offset = bits_offset + 6
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        value = {258: bits_offset, 273: data_offset}.get(tag, value)
        packed = struct.pack("<HH", value, 0) if kind == 3 and tag != 258 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16)
    return bytes(out) + pixels


def write_image(image: np.ndarray, path) -> None:
    """Write uint8 or uint16 `image` ([H, W], [H, W, 1] or [H, W, 3]) to `path`, format from its suffix.

    uint8 through Pillow (any format it writes); uint16 as 16-bit PNG or TIFF (grey through Pillow, 48-bit RGB
    by the encoders above); a 16-bit image to another format is a ValueError naming the path. Not atomic by
    itself: callers wrap it in `jrestore._io.atomic_write`.
    """
    from PIL import Image

    path = Path(path)
    arr = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"image: expected [H, W], [H, W, 1] or [H, W, 3], got shape {image.shape}")
    suffix = path.suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise ValueError(f"output: {path} has no image extension (.png, .tif, .bmp, ...)")
    if arr.dtype == np.uint8:
        Image.fromarray(arr).save(path, format=fmt)
        return
    if arr.dtype != np.uint16:
        raise ValueError(f"image: expected uint8 or uint16 samples, got {arr.dtype}")
    if fmt not in ("PNG", "TIFF"):
        raise ValueError(f"output: {path}: a 16-bit image is written as .png or .tif / .tiff, not {suffix}")
    if arr.ndim == 2:
        Image.fromarray(arr).save(path, format=fmt)  # Pillow's I;16 keeps all 16 bits
    else:
        path.write_bytes(_encode_png16(arr) if fmt == "PNG" else _encode_tiff16_rgb(arr))
