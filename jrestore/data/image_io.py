"""Reading benchmark images and test sets exactly as the reference scripts do.

All readers return uint8 NumPy arrays [H, W, C] (C = 1 or 3) so every protocol starts from the same
bytes; conversion to float happens in the protocol. Unreadable files, 16-bit images and alpha channels
raise ValueError naming the file.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["read_image", "list_images", "read_sr_pairs", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def read_image(path, mode: str | None = None) -> np.ndarray:
    """uint8 [H, W, C] image. mode: None (as stored, palette expanded), 'L' (grey) or 'RGB'."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                raise ValueError(f"{path}: {im.mode} image (16-bit or float); expected 8-bit grey or RGB")
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                raise ValueError(f"{path}: image has an alpha channel; expected 8-bit grey or RGB without alpha")
            if mode is not None:
                im = im.convert(mode)
            elif im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
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
