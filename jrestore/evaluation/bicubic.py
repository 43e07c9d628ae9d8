"""The bicubic interpolation baseline of the SR benchmarks (SelfExSR tables), in either framework.

Protocol (SelfExSR compute_difference.m): upsample the given uint8 LR image by `scale` with MATLAB's
bicubic `imresize`, round to uint8, then score with the `selfexsr` protocol (MATLAB Y rounded to uint8,
shave `scale` pixels, PSNR on the 0..255 scale).
"""
from __future__ import annotations

import numpy as np

from jrestore.data.image_io import read_sr_pairs

__all__ = ["bicubic_upscale", "evaluate_bicubic", "FRAMEWORKS"]

FRAMEWORKS = ("jax", "torch")


def bicubic_upscale(lr: np.ndarray, scale: int, framework: str = "jax") -> np.ndarray:
    """lr: [H, W, C] uint8 -> [H*scale, W*scale, C] float32 on the uint8 grid, in [0, 1] (MATLAB imresize)."""
    x = lr.astype(np.float32)[None] / 255.0
    if framework == "jax":
        import jax.numpy as jnp
        from jrestore.ops.resize import imresize_matlab, quantize_uint8

        return np.asarray(quantize_uint8(imresize_matlab(jnp.asarray(x), scale=scale)))[0]
    if framework == "torch":
        import torch
        from torch_ref.ops.resize import imresize_matlab, quantize_uint8

        y = quantize_uint8(imresize_matlab(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), scale=scale))
        return y.numpy()[0].transpose(1, 2, 0)
    raise ValueError(f"framework: expected one of {list(FRAMEWORKS)}, got {framework!r}")


def score(sr: np.ndarray, hr: np.ndarray, scale: int, framework: str) -> float:
    """selfexsr PSNR (dB) of one [H, W, C] float image against the uint8 HR, in the given framework."""
    hr = hr.astype(np.float32) / 255.0
    if framework == "jax":
        import jax.numpy as jnp
        from jrestore.metrics import psnr

        return float(psnr(jnp.asarray(sr), jnp.asarray(hr), protocol="selfexsr", scale=scale))
    import torch
    from torch_ref.metrics import psnr

    t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))  # noqa: E731
    return float(psnr(t(sr), t(hr), protocol="selfexsr", scale=scale))


def evaluate_bicubic(folder, scale: int, frameworks=FRAMEWORKS) -> dict:
    """{framework: {"per_image": {name: psnr}, "mean_psnr": float}} over the SelfExSR pairs in `folder`."""
    pairs = read_sr_pairs(folder, scale)
    out = {}
    for fw in frameworks:
        per = {name: score(bicubic_upscale(lr, scale, fw), hr, scale, fw) for name, hr, lr in pairs}
        out[fw] = {"per_image": per, "mean_psnr": float(np.mean(list(per.values())))}
    return out
