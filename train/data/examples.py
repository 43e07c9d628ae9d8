"""One training pair from one clean image (uint8 or uint16): random crop, dihedral augmentation, then the task's
degradation; or from a real (degraded, clean) pair of images: the same crop and augmentation of both.

Tasks (a dict or ConfigDict; `channels` is "y" or "rgb" for every kind, default "y"; fields of other kinds,
e.g. scale in a denoise task, are ignored; None or "" means unset):
    {"kind": "denoise", "sigma": 25}          input = target + N(0, 1) * sigma / 255, NOT clipped (DnCNN/KAIR);
    {"kind": "denoise", "sigma": [0, 55]}     blind: sigma ~ U(lo, hi) per patch
    {"kind": "sr", "scale": 3, "lr_resize": "matlab", "lr_uint8": True}
                                              target = HR patch of patch_size (the HR size, a multiple of scale);
                                              input = MATLAB imresize(HR, 1/scale) of that patch in float64 from
                                              jrestore.ops.resize.matlab_weights, rounded to uint8 levels unless
                                              lr_uint8=False (benchmark LR files are uint8); "pil": PIL BICUBIC on
                                              the uint8 patch (yjn870's prepare.py), always uint8 levels
    {"kind": "cs", "block": 33}               input = target = one block (the model measures it itself)

"y" is MATLAB rgb2ycbcr's Y rounded to uint8 (exactly the Y of jrestore.evaluation.protocol_data, so training
and evaluation see the same channel); grey images stay grey (their Y is the grey value, as in Set12/Train400).
"rgb" expands grey images to three equal channels.

Randomness: one np.random.Generator per record, drawn in a fixed order (crop row, crop column, dihedral index,
sigma, noise), so a record's pair is a pure function of (image, generator seed).

Precision: targets are image / 255 for uint8 images and image / 65535 for uint16 ones (16-bit MRI/CT slices
keep all their levels); sigma stays on the 0-255 scale of the [0, 1] range; "lr_uint8" rounds the LR to the
image's own levels (8 or 16 bits); "pil" resizing is PIL's uint8 path, so it refuses 16-bit images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.settings import get

__all__ = ["TaskSpec", "parse_task", "make_example", "make_paired_example", "dihedral", "crop_sizes", "KINDS",
           "CHANNELS", "LR_RESIZES", "TASK_KEYS"]

KINDS = ("denoise", "sr", "cs")
CHANNELS = ("y", "rgb")
LR_RESIZES = ("matlab", "pil")
# one task config may carry every kind's fields (the trainer's base config does): those of other kinds are ignored
TASK_KEYS = ("kind", "channels", "sigma", "scale", "lr_resize", "lr_uint8", "block",
             "cs_matrices")  # cs_matrices: the folder of Phi / Qinit, read by the trainer


@dataclass(frozen=True)
class TaskSpec:
    """A validated task. sigma: (lo, hi) on the 0-255 scale (lo == hi: fixed); scale/block: ints or None."""

    kind: str
    channels: str = "y"
    sigma: tuple[float, float] | None = None
    scale: int | None = None
    lr_resize: str = "matlab"
    lr_uint8: bool = True
    block: int | None = None


def parse_task(task) -> TaskSpec:
    """TaskSpec from a dict-like task; a bad kind, key or value raises one ValueError listing the valid ones."""
    if isinstance(task, TaskSpec):
        return task
    kind = get(task, "kind")
    if kind not in KINDS:
        raise ValueError(f"task.kind: expected one of {list(KINDS)}, got {kind!r}")
    unknown = sorted(set(task.keys()) - set(TASK_KEYS))
    if unknown:
        raise ValueError(f"task: unknown keys {unknown}; valid keys are {list(TASK_KEYS)}")
    channels = get(task, "channels", "y")
    if channels not in CHANNELS:
        raise ValueError(f"task.channels: expected one of {list(CHANNELS)}, got {channels!r}")
    if kind == "denoise":
        sigma = get(task, "sigma")
        lo_hi = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma) if sigma is not None else ()
        if len(lo_hi) != 2 or not all(isinstance(s, (int, float)) for s in lo_hi) or not 0 <= lo_hi[0] <= lo_hi[1]:
            raise ValueError(f"task.sigma: expected a number >= 0 or a range [lo, hi] with 0 <= lo <= hi "
                             f"(0-255 scale), got {sigma!r}")
        return TaskSpec(kind, channels, sigma=(float(lo_hi[0]), float(lo_hi[1])))
    if kind == "sr":
        scale = get(task, "scale")
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale != int(scale) or scale < 2:
            raise ValueError(f"task.scale: expected an integer >= 2, got {scale!r}")
        scale = int(scale)
        lr_resize = get(task, "lr_resize", "matlab")
        if lr_resize not in LR_RESIZES:
            raise ValueError(f"task.lr_resize: expected one of {list(LR_RESIZES)}, got {lr_resize!r}")
        return TaskSpec(kind, channels, scale=scale, lr_resize=lr_resize, lr_uint8=bool(get(task, "lr_uint8", True)))
    block = get(task, "block", 33)
    if not isinstance(block, int) or block < 1:
        raise ValueError(f"task.block: expected a positive integer (ISTA-Net: 33), got {block!r}")
    return TaskSpec(kind, channels, block=block)


def crop_sizes(spec: TaskSpec, patch_size) -> tuple[int, int]:
    """(crop = target size, input size) in pixels. patch_size is the TARGET (HR) size for every task.

    sr: patch_size must be a multiple of scale, input = patch_size // scale. cs: the crop is the block;
    patch_size may be None or equal to the block.
    """
    if spec.kind == "cs":
        if patch_size is not None and patch_size != spec.block:
            raise ValueError(f"patch_size: a cs task trains on blocks of task.block = {spec.block}; "
                             f"leave patch_size unset or set it to {spec.block}, got {patch_size!r}")
        return spec.block, spec.block
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size: expected a positive integer (the target / HR patch size), got {patch_size!r}")
    if spec.kind == "sr":
        if patch_size % spec.scale:
            raise ValueError(f"patch_size: the HR patch size must be a multiple of task.scale = {spec.scale}, "
                             f"got {patch_size} (e.g. {patch_size - patch_size % spec.scale or spec.scale})")
        return patch_size, patch_size // spec.scale
    return patch_size, patch_size


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """The k-th (0..7) of the 8 flips/rotations of x [H, W, C]: rot90 k % 4 times, then a left-right flip if k >= 4."""
    x = np.rot90(x, k % 4, axes=(0, 1))
    return x[:, ::-1] if k >= 4 else x


def _matlab_down(hr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB imresize(hr, 1/scale, 'bicubic') of a float64 [P, P, C] patch -> float64 [P/s, P/s, C]."""
    from jrestore.ops.resize import matlab_weights  # imported here: workers for other tasks need no JAX import

    p, c = hr.shape[0], hr.shape[-1]
    w = matlab_weights(p, p // scale, 1.0 / scale, True)  # square patch: one matrix for both axes (cached)
    y = (w @ hr.reshape(p, -1)).reshape(-1, p, c)  # height first, as MATLAB does for equal scales
    return w[None] @ y  # width: [o, p, c] = sum_w w[p, w] y[o, w, c]; matmul is 1.6x faster than einsum here


def _pil_down(hr: np.ndarray, scale: int) -> np.ndarray:
    """PIL BICUBIC downscale of a uint8 [P, P, C] patch (PIL's uint8 path, as yjn870's prepare.py) -> uint8."""
    from PIL import Image

    q = hr.shape[0] // scale
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(hr[..., c])).resize((q, q), Image.BICUBIC))
             for c in range(hr.shape[-1])]
    return np.stack(chans, axis=-1)


def _peak(img: np.ndarray, name: str) -> float:
    if img.dtype == np.uint8:
        return 255.0
    if img.dtype == np.uint16:
        return 65535.0
    raise ValueError(f"{name}: expected a uint8 or uint16 image, got {img.dtype}")


def make_example(img: np.ndarray, rng: np.random.Generator, spec: TaskSpec, patch: int, augment: bool,
                 name: str = "image") -> dict[str, np.ndarray]:
    """One training pair from img uint8 or uint16 [H, W, C].

    Returns {"input": float32 [h, w, C], "target": float32 [patch, patch, C]} with h = w = patch // scale for
    sr, else patch. Target = crop / 255 (uint8) or crop / 65535 (uint16), computed in float64 as KAIR's
    uint2single.
    """
    white = _peak(img, name)
    if spec.kind == "sr" and spec.lr_resize == "pil" and white != 255.0:
        raise ValueError(f"task.lr_resize: 'pil' resizes 8-bit images (PIL's uint8 path), but {name} is 16-bit; "
                         f"use 'matlab' to keep its precision")
    h, w = img.shape[:2]
    if h < patch or w < patch:
        raise ValueError(f"patch_size: {name} is {h}x{w}, smaller than the {patch}x{patch} crop")
    y0 = int(rng.integers(h - patch + 1))
    x0 = int(rng.integers(w - patch + 1))
    crop = img[y0:y0 + patch, x0:x0 + patch]
    if augment:
        crop = dihedral(crop, int(rng.integers(8)))
    crop = np.ascontiguousarray(crop)
    target = (crop / white).astype(np.float32)
    if spec.kind == "denoise":
        lo, hi = spec.sigma
        sigma = lo if lo == hi else rng.uniform(lo, hi)
        noise = rng.standard_normal(target.shape, dtype=np.float32) * np.float32(sigma / 255.0)
        return {"input": target + noise, "target": target}
    if spec.kind == "sr":
        if spec.lr_resize == "pil":
            lr = _pil_down(crop, spec.scale) / 255.0
        else:
            lr = _matlab_down(crop / white, spec.scale)
            if spec.lr_uint8:  # what an LR PNG of the same bit depth stores (jrestore.ops.resize.quantize_uint8)
                lr = np.round(np.clip(lr, 0.0, 1.0) * white) / white
        return {"input": lr.astype(np.float32), "target": target}
    return {"input": target, "target": target}


def make_paired_example(lq: np.ndarray, gt: np.ndarray, rng: np.random.Generator, spec: TaskSpec, patch: int,
                        augment: bool, name: str = "image") -> dict[str, np.ndarray]:
    """One training pair from a real pair: lq [h, w, C] (degraded) and gt [H, W, C] (clean), uint8 or uint16
    each, with H, W = h, w (denoise) or h * scale .. h * scale + scale - 1 (sr: a GT not cropped to a multiple
    of the scale is cropped here, as BasicSR's mod_crop).

    As BasicSR's paired_random_crop + augment: the LQ crop of patch // scale at (y, x) and the GT crop of patch
    at (y * scale, x * scale), then one dihedral variant of both; the draws are those of make_example (crop
    row, crop column, dihedral index), so a record's pair is a pure function of (images, generator seed).
    Returns {"input": float32 [patch // scale, ..., C] = lq crop / its peak, "target": float32 [patch, patch, C]}.
    """
    if spec.kind == "cs":
        raise ValueError("data: a cs task trains on clean blocks; a paired source cannot take effect there")
    scale = spec.scale if spec.kind == "sr" else 1
    (h, w), (gh, gw) = lq.shape[:2], gt.shape[:2]
    if not (h * scale <= gh < (h + 1) * scale and w * scale <= gw < (w + 1) * scale):  # scale 1: equal sizes
        want = f"{scale}x the LQ size" if scale > 1 else "the LQ size"
        raise ValueError(f"lq_path: {name}: GT {gh}x{gw} is not {want} (LQ {h}x{w})")
    if lq.shape[-1] != gt.shape[-1]:
        raise ValueError(f"lq_path: {name}: LQ has {lq.shape[-1]} channel(s), GT {gt.shape[-1]}")
    small = patch // scale
    if h < small or w < small:
        raise ValueError(f"patch_size: {name} is {gh}x{gw}, smaller than the {patch}x{patch} crop")
    y0 = int(rng.integers(h - small + 1))
    x0 = int(rng.integers(w - small + 1))
    lq_crop = lq[y0:y0 + small, x0:x0 + small]
    gt_crop = gt[y0 * scale:y0 * scale + patch, x0 * scale:x0 * scale + patch]
    if augment:
        k = int(rng.integers(8))
        lq_crop, gt_crop = dihedral(lq_crop, k), dihedral(gt_crop, k)
    return {"input": (lq_crop / _peak(lq, name)).astype(np.float32),
            "target": (gt_crop / _peak(gt, name)).astype(np.float32)}
