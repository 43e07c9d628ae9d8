"""The bicubic interpolation baseline of the SR benchmarks (SelfExSR tables), in either framework.

Protocol (SelfExSR compute_difference.m): upsample the given uint8 LR image by `scale` with MATLAB's
bicubic `imresize`, then score with the `selfexsr` protocol (output rounded to uint8, MATLAB Y rounded to
uint8, shave `scale` pixels, PSNR on the 0..255 scale). Same as `jrestore eval --model bicubic`.
"""
from __future__ import annotations

__all__ = ["evaluate_bicubic", "FRAMEWORKS"]

FRAMEWORKS = ("jax", "torch")


def evaluate_bicubic(folder, scale: int, frameworks=FRAMEWORKS) -> dict:
    """{framework: {"per_image": {name: psnr}, "mean_psnr", "mean_ssim", ...}} over the test set in `folder`."""
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.inference import build_task

    task = build_task("bicubic", scale=scale, frameworks=tuple(frameworks))
    return evaluate(task, folder, "selfexsr", progress=False)
