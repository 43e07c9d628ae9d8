"""Test-set preparation exactly as each paper's test script does it: which images, which degradation,
which channel the model sees, and what the output is compared against. Framework-free (NumPy), so the
JAX and PyTorch runs start from the same bytes.

    ista_net    CS (jianzhangcs/ISTA-Net-PyTorch): OpenCV full-range Y (uint8) of each image read as RGB (a grey
                file's Y is its grey value); the model measures and reconstructs it; compared with that Y.
    kair_dncnn  denoising (cszn/KAIR main_test_dncnn.py): uint8 read as util.imread_uint does for the model's
                channels (1: cv2.imread(path, 0), colour files through OpenCV's grey conversion; 3: RGB, grey
                files replicated) / 255, plus np.random.seed(0) Gaussian noise of sigma/255 per image, added
                in float64 to the float32 image and stored as float32 (neither clipped nor rounded).
    selfexsr    SR benchmark (jbhuang0604/SelfExSR): the given `*_SRF_s_{HR,LR}` pairs, or for a plain HR
                folder, HR mod-cropped to s and LR = MATLAB imresize(HR, 1/s) rounded to uint8, each file as
                stored (grey files stay one channel, as MATLAB's imread gives them). One-channel models see
                MATLAB rgb2ycbcr Y (uint8) of a colour LR and are compared on Y of the HR; a grey file is
                seen and compared on its own values. Three-channel models see a grey LR as R = G = B and are
                compared on their output's Y against the grey HR (compute_difference.m converts each image
                with 3 channels on its own).
    yjn870      FSRCNN re-implementation (yjn870/FSRCNN-pytorch test.py): the original HR image read as RGB
                (grey files R = G = B) (for a SelfExSR folder, the largest HR copy of each image),
                PIL-BICUBIC-resized to its mod-s size, LR = PIL BICUBIC down by s; one-channel models see
                yjn870's float Y (16 + 218.859 v / 256 for a grey file).
How each protocol reads files is its `read_files` (jrestore.metrics.protocols, where the decisions and their
source lines are written down).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jrestore.data.image_io import list_images, read_image, read_image_cv2_grayscale, read_sr_pairs
from jrestore.metrics.protocols import get_protocol

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
        return [_cs_sample(p, protocol) for p in list_images(data)]
    if protocol == "kair_dncnn":
        if sigma is None:
            raise ValueError("--sigma: the kair_dncnn protocol adds Gaussian noise of this level (0-255 scale)")
        return [_noisy_sample(p, sigma, channels, protocol) for p in list_images(data)]
    if protocol == "selfexsr":
        pairs = _selfexsr_pairs(data, scale, protocol)
        return [_sr_sample(n, hr, lr, channels, _y_matlab_uint8) for n, hr, lr in pairs]
    return [_sr_sample(n, hr, lr, channels, _y_yjn870) for n, hr, lr in _yjn870_pairs(data, scale, protocol)]


def read_as_script(path, protocol: str, channels: int | None = None) -> np.ndarray:
    """uint8 [H, W, 1 or 3]: the file as `protocol`'s script reads it (its read_files), for a model taking
    `channels` (only 'cv2_model_channels' depends on it)."""
    how = get_protocol(protocol).read_files
    if how == "rgb":
        return read_image(path, "RGB")
    if how == "cv2_model_channels":
        return read_image_cv2_grayscale(path) if channels == 1 else read_image(path, "RGB")
    return read_image(path)  # 'as_stored'


# ---- compressed sensing and denoising ----

def _y_opencv_uint8(rgb: np.ndarray) -> np.ndarray:
    """cv2.cvtColor(BGR2YCrCb)[..., 0] on uint8: (4899 R + 9617 G + 1868 B + 8192) >> 14, exact in integers."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14).astype(np.uint8)


def _cs_sample(path: Path, protocol: str) -> Sample:
    img = read_as_script(path, protocol)  # 'rgb': grey and palette images replicated, Y is the grey value
    y = _y_opencv_uint8(img)[..., None] if img.shape[2] == 3 else img
    x = (y / 255.0).astype(np.float32)
    return Sample(path.name, x, x)


def _noisy_sample(path: Path, sigma: float, channels: int | None, protocol: str) -> Sample:
    from jrestore.ops.noise import numpy_legacy_gaussian_noise

    img = read_as_script(path, protocol, channels)
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
    """hr, lr: uint8 [H, W, 1 or 3] as read. channels: the model's (None: any, the bicubic baseline)."""
    def one_channel(img):  # a colour file's Y; a grey file's own values (compute_difference.m)
        return to_y(img)[..., None] if img.shape[2] == 3 else (img / 255.0).astype(np.float32)

    if channels == 1:
        return Sample(name, one_channel(lr), one_channel(hr))
    if channels == 3 and lr.shape[2] == 1:
        lr = np.repeat(lr, 3, axis=2)  # a grey LR as R = G = B; the grey HR stays the reference
    return Sample(name, (lr / 255.0).astype(np.float32), (hr / 255.0).astype(np.float32))


def _has_pairs(folder: Path) -> bool:
    return any(re.search(r"_SRF_\d+_(HR|LR)$", p.stem) for p in folder.rglob("*") if p.is_file())


def _selfexsr_pairs(data: Path, scale: int, protocol: str):
    if _has_pairs(data):
        return read_sr_pairs(data, scale, read=lambda path: read_as_script(path, protocol))
    import jax.numpy as jnp
    from jrestore.ops.resize import imresize_matlab, quantize_uint8

    out = []
    for p in list_images(data):
        hr = _mod_crop(read_as_script(p, protocol), scale)
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


def _yjn870_pairs(data: Path, scale: int, protocol: str):
    from PIL import Image

    out = []
    for name, path in _originals(data):
        hr = Image.fromarray(read_as_script(path, protocol))  # 'rgb': .convert('RGB'), grey files R = G = B
        w, h = (hr.width // scale) * scale, (hr.height // scale) * scale
        if w == 0 or h == 0:
            raise ValueError(f"{path}: {hr.width}x{hr.height} is smaller than the scale {scale}")
        hr = hr.resize((w, h), resample=Image.BICUBIC)  # test.py resizes (not crops) to the mod-s size
        lr = hr.resize((w // scale, h // scale), resample=Image.BICUBIC)
        out.append((name, np.asarray(hr), np.asarray(lr)))
    return out
