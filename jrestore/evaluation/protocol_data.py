"""Test-set preparation exactly as each paper's test script does it: which images, which degradation,
which channel the model sees, and what the output is compared against. Framework-free (NumPy), so the
JAX and PyTorch runs start from the same bytes.

    ista_net    CS (jianzhangcs/ISTA-Net-PyTorch): OpenCV full-range Y (uint8) of each image; the model
                measures and reconstructs it; compared with that Y.
    kair_dncnn  denoising (cszn/KAIR main_test_dncnn.py): uint8 grey (or RGB for colour models) / 255, plus
                np.random.seed(0) Gaussian noise of sigma/255 per image, added in float64 to the float32
                image and stored as float32 (neither clipped nor rounded).
    selfexsr    SR benchmark (jbhuang0604/SelfExSR): the given `*_SRF_s_{HR,LR}` pairs, or for a plain HR
                folder, HR mod-cropped to s and LR = MATLAB imresize(HR, 1/s) rounded to uint8. One-channel
                models see MATLAB rgb2ycbcr Y of the LR (uint8) and are compared on Y of the HR.
    yjn870      FSRCNN re-implementation (yjn870/FSRCNN-pytorch test.py): the original HR image (for a
                SelfExSR folder, the largest HR copy of each image), PIL-BICUBIC-resized to its mod-s size, LR
                = PIL BICUBIC down by s; one-channel models see yjn870's float Y.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jrestore.data.image_io import list_images, read_image, read_sr_pairs

__all__ = ["Sample", "load_samples", "PROTOCOL_KIND", "PROTOCOL_UPSAMPLE"]

PROTOCOL_KIND = {"ista_net": "cs", "kair_dncnn": "denoise", "selfexsr": "sr", "yjn870": "sr"}
# the bicubic a protocol's pipeline uses where it upsamples (SRCNN's input, the bicubic baseline)
PROTOCOL_UPSAMPLE = {"selfexsr": "matlab", "yjn870": "pil"}


@dataclass
class Sample:
    """name: key in the results; inputs: [h, w, C] float32 model input; target: [H, W, C'] float32 in [0, 1]
    (the reference the protocol's metric compares the output with; RGB where the protocol takes Y itself)."""

    name: str
    inputs: np.ndarray
    target: np.ndarray


def load_samples(data, protocol: str, *, kind: str, channels: int | None, scale: int = 1,
                 sigma: float | None = None) -> list[Sample]:
    """Every test image of `data` prepared under `protocol` for a model of `kind` taking `channels`."""
    want = PROTOCOL_KIND.get(protocol)
    if want is None:
        raise ValueError(f"protocol: expected one of {sorted(PROTOCOL_KIND)}, got {protocol!r}")
    if want != kind:
        raise ValueError(f"protocol: {protocol!r} evaluates {want} models; this is a {kind} model "
                         f"(use one of {sorted(p for p, k in PROTOCOL_KIND.items() if k == kind)})")
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"--data: no such folder {data}")
    if protocol == "ista_net":
        return [_cs_sample(p) for p in list_images(data)]
    if protocol == "kair_dncnn":
        if sigma is None:
            raise ValueError("--sigma: the kair_dncnn protocol adds Gaussian noise of this level (0-255 scale)")
        return [_noisy_sample(p, sigma, channels) for p in list_images(data)]
    if protocol == "selfexsr":
        return [_sr_sample(n, hr, lr, channels, _y_matlab_uint8) for n, hr, lr in _selfexsr_pairs(data, scale)]
    return [_sr_sample(n, hr, lr, channels, _y_yjn870) for n, hr, lr in _yjn870_pairs(data, scale)]


# ---- compressed sensing and denoising ----

def _y_opencv_uint8(rgb: np.ndarray) -> np.ndarray:
    """cv2.cvtColor(BGR2YCrCb)[..., 0] on uint8: (4899 R + 9617 G + 1868 B + 8192) >> 14, exact in integers."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14).astype(np.uint8)


def _cs_sample(path: Path) -> Sample:
    y = _y_opencv_uint8(read_image(path, "RGB"))[..., None]  # grey and palette images: Y is the grey value
    x = (y / 255.0).astype(np.float32)
    return Sample(path.name, x, x)


def _noisy_sample(path: Path, sigma: float, channels: int | None) -> Sample:
    from jrestore.ops.noise import numpy_legacy_gaussian_noise

    img = read_image(path, "L" if channels == 1 else "RGB")
    x = np.float32(img / 255.0)  # KAIR util.uint2single
    noise = numpy_legacy_gaussian_noise(x.shape, sigma, seed=0, dtype=np.float64)
    return Sample(path.name, (x + noise).astype(np.float32), x)


# ---- super-resolution ----

def _y_matlab_uint8(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr on uint8: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, rounded; [H, W] float32 / 255."""
    x = rgb.astype(np.float64) / 255.0
    y = 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]
    return (np.floor(y + 0.5) / 255.0).astype(np.float32)  # MATLAB rounds half away from zero


def _y_yjn870(rgb: np.ndarray) -> np.ndarray:
    """yjn870 convert_rgb_to_y on float32 0..255, then / 255 (float, not rounded)."""
    img = rgb.astype(np.float32)
    y = 16.0 + (64.738 * img[..., 0] + 129.057 * img[..., 1] + 25.064 * img[..., 2]) / 256.0
    return (y / 255.0).astype(np.float32)


def _sr_sample(name, hr: np.ndarray, lr: np.ndarray, channels, to_y) -> Sample:
    if channels == 1:
        return Sample(name, to_y(lr)[..., None], to_y(hr)[..., None])
    return Sample(name, (lr / 255.0).astype(np.float32), (hr / 255.0).astype(np.float32))


def _has_pairs(folder: Path) -> bool:
    return any(re.search(r"_SRF_\d+_(HR|LR)$", p.stem) for p in folder.rglob("*") if p.is_file())


def _selfexsr_pairs(data: Path, scale: int):
    if _has_pairs(data):
        return read_sr_pairs(data, scale)
    import jax.numpy as jnp
    from jrestore.ops.resize import imresize_matlab, quantize_uint8

    out = []
    for p in list_images(data):
        hr = _mod_crop(read_image(p, "RGB"), scale)
        lr = quantize_uint8(imresize_matlab(jnp.asarray(hr, jnp.float32)[None] / 255.0, scale=1.0 / scale))
        out.append((p.name, hr, np.round(np.asarray(lr)[0] * 255.0).astype(np.uint8)))
    return out


def _mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"image: {h}x{w} is smaller than the scale {scale}")
    return img[:h - h % scale, :w - w % scale]


def _originals(data: Path) -> list[tuple[str, Path]]:
    """(name, path) of each image's least-cropped HR copy in a SelfExSR folder, else every image."""
    if not _has_pairs(data):
        return [(p.name, p) for p in list_images(data)]
    best: dict[str, tuple[int, Path]] = {}
    for p in sorted(data.rglob("*_HR.*")):
        m = re.match(r"^(.+)_SRF_\d+_HR$", p.stem)
        if m:
            from PIL import Image
            with Image.open(p) as im:
                area = im.width * im.height
            if m.group(1) not in best or area > best[m.group(1)][0]:
                best[m.group(1)] = (area, p)
    return [(stem, p) for stem, (_, p) in sorted(best.items())]


def _yjn870_pairs(data: Path, scale: int):
    from PIL import Image

    out = []
    for name, path in _originals(data):
        hr = Image.fromarray(read_image(path, "RGB"))
        w, h = (hr.width // scale) * scale, (hr.height // scale) * scale
        if w == 0 or h == 0:
            raise ValueError(f"{path}: {hr.width}x{hr.height} is smaller than the scale {scale}")
        hr = hr.resize((w, h), resample=Image.BICUBIC)  # test.py resizes (not crops) to the mod-s size
        lr = hr.resize((w // scale, h // scale), resample=Image.BICUBIC)
        out.append((name, np.asarray(hr), np.asarray(lr)))
    return out
