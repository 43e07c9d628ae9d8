"""Int8 files as inference Tasks (what `jrestore eval --weights INT8_FILE` scores), and the calibration and
QAT data `jrestore quantize` draws from a folder of images.

    task = int8_task("dncnn_int8.safetensors")          # forwards: 'jax' (AQT int8), 'torch' (convert_fx module)
    batches = calibration_batches(samples, patch=64, per_image=4, batch=8, seed=0)   # [B, P, P, C] float32
    pairs = training_pairs(samples, kind, sigma, scale, patch=40, batch=8, seed=0)   # endless (input, target)
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from jrestore.core.quantize import read_int8_file
from jrestore.inference.specs import get_spec
from jrestore.inference.tasks import FRAMEWORKS, Task

__all__ = ["int8_task", "tensors_task", "calibration_batches", "training_pairs"]


def int8_task(path, frameworks=FRAMEWORKS, *, scale: int | None = None) -> Task:
    """A Task running int8 file `path` in the requested frameworks: JAX through AQT int8 convolutions, PyTorch
    through the converted quantised module holding the file's integers. --scale must match the file's."""
    stack, tensors, meta, kwargs = read_int8_file(path)
    return tensors_task(stack, tensors, kwargs, frameworks, scale=scale, label=str(path))


def tensors_task(stack, tensors, kwargs, frameworks=FRAMEWORKS, *, scale: int | None = None,
                 label: str = "int8") -> Task:
    """int8_task of an int8 file's (stack, tensors, kwargs) held in memory (the sensitivity analysis builds
    one per layer); `label` names it in errors."""
    spec = get_spec(stack.model)
    model_scale = int(kwargs.get(spec.scale_arg, 1)) if spec.scale_arg else 1
    if spec.kind == "sr" and scale is not None and scale != model_scale:
        raise ValueError(f"--scale: {label} is an x{model_scale} model, got --scale {scale}")
    forwards = {}
    for fw in frameworks:
        if fw == "jax":
            import jax.numpy as jnp
            from jrestore.quantize import int8_forward

            fn = int8_forward(stack, tensors, kwargs)
            forwards[fw] = lambda x, fn=fn: np.asarray(fn(jnp.asarray(x)[None]))[0]
        else:
            import torch
            from torch_ref.quantize import int8_model

            net = int8_model(stack, tensors, kwargs)

            def run(x, net=net):
                with torch.no_grad():
                    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
                    return net(t)[0].permute(1, 2, 0).numpy()
            forwards[fw] = run
    channels = int(kwargs.get(spec.channels_arg, 1)) if spec.channels_arg else 1
    return Task(stack.model, spec.kind, channels, model_scale, spec.align(kwargs), spec.halo(kwargs), kwargs,
                label, forwards)


def _crop(rng, sample, patch: int, scale: int):
    h, w = sample.inputs.shape[:2]
    p = min(patch, h, w)
    top, left = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
    x = sample.inputs[top:top + p, left:left + p]
    target = sample.target[top * scale:(top + p) * scale, left * scale:(left + p) * scale]
    return x, target


def calibration_batches(samples, *, patch: int, per_image: int, batch: int, seed: int) -> list[np.ndarray]:
    """Random patch x patch crops of every sample's model input ([B, P, P, C] float32 batches, NHWC): the
    activations PTQ observes. Every batch has one shape (one compiled calibration function)."""
    rng = np.random.default_rng(seed)
    p = min([patch] + [min(s.inputs.shape[:2]) for s in samples])
    crops = [_crop(rng, s, p, 1)[0] for s in samples for _ in range(per_image)]
    return [np.stack(crops[i:i + batch]).astype(np.float32) for i in range(0, len(crops), batch)]


def training_pairs(samples, kind: str, *, sigma: float | None, scale: int, patch: int, batch: int,
                   seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (input [B, P, P, C], target [B, P*s, P*s, C]) batches for QAT, NHWC float32: random crops of the
    samples; for denoising a clean crop of the target plus fresh Gaussian noise of `sigma` (0-255) each time,
    as the model's recipe trains; for SR the protocol's own LR / HR pair, cropped together."""
    rng = np.random.default_rng(seed)
    p = min([patch] + [min(s.inputs.shape[:2]) for s in samples])
    while True:
        xs, ts = [], []
        for _ in range(batch):
            x, target = _crop(rng, samples[int(rng.integers(len(samples)))], p, scale)
            if kind == "denoise":
                x = target + rng.standard_normal(target.shape).astype(np.float32) * np.float32(sigma / 255.0)
            xs.append(x)
            ts.append(target)
        yield np.stack(xs).astype(np.float32), np.stack(ts).astype(np.float32)
