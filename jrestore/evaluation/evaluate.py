"""Evaluate a Task on a test set under a named protocol, in JAX and/or PyTorch.

    task = build_task("dncnn", "dncnn_25.pth")
    result = evaluate(task, "Set12", "kair_dncnn", sigma=25)
    result["jax"]["mean_psnr"], result["torch"]["per_image"]["01.png"]

Each framework restores with its own network and scores with its own metric implementation
(jrestore.metrics / torch_ref.metrics) under the protocol's knobs, so the two columns are independent.
"""
from __future__ import annotations

import functools

import numpy as np

from jrestore.evaluation.protocol_data import Sample, load_samples

__all__ = ["evaluate", "score", "result_rows"]


def score(restored: np.ndarray, target: np.ndarray, protocol: str, scale: int, framework: str) -> tuple[float, float]:
    """(PSNR dB, SSIM) of one [H, W, C] restored image against its target, in `framework`'s metrics.

    The channels may differ where the protocol takes Y of each 3-channel image on its own (selfexsr: a colour
    model's output against a grey file); the metric checks that (protocols.check_pair_shapes)."""
    if restored.ndim != 3 or restored.shape[:2] != target.shape[:2]:
        raise ValueError(f"restored: expected [H, W, C] with the target's H, W {target.shape[:2]}, "
                         f"got {restored.shape}")
    if framework == "jax":
        import jax.numpy as jnp

        p, s = _jax_psnr_ssim(protocol, scale)(jnp.asarray(restored), jnp.asarray(target))
        return float(p), float(s)
    import torch
    from torch_ref.metrics import psnr, ssim

    a, b = (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))) for x in (restored, target))
    return (float(psnr(a, b, protocol=protocol, scale=scale)), float(ssim(a, b, protocol=protocol, scale=scale)))


@functools.lru_cache(maxsize=None)
def _jax_psnr_ssim(protocol: str, scale: int):
    """jrestore's (psnr, ssim) under one protocol as one jitted function: one compilation per image shape,
    where eager mode compiles each of its ~50 small operations for every new shape (several seconds each)."""
    import jax
    from jrestore.metrics import psnr, ssim

    return jax.jit(lambda a, b: (psnr(a, b, protocol=protocol, scale=scale), ssim(a, b, protocol=protocol,
                                                                                   scale=scale)))


def evaluate(task, data, protocol: str, *, sigma: float | None = None, frameworks=None, tile: int | None = None,
             progress: bool = True, on_restored=None) -> dict:
    """{framework: {"per_image": {name: psnr}, "per_image_ssim": {name: ssim}, "mean_psnr", "mean_ssim"}}.

    Args:
      task: from jrestore.inference.build_task.
      data: a folder of test images (for SR also the SelfExSR `*_SRF_s_{HR,LR}` layout).
      protocol: 'ista_net' | 'kair_dncnn' | 'selfexsr' | 'yjn870' (see jrestore.evaluation.protocol_data).
      sigma: noise level (0-255) for denoising protocols.
      frameworks: subset of task.frameworks (default: all of them).
      progress: a tqdm bar on stderr (hidden when stderr is not a terminal).
      on_restored: called as on_restored(name, framework, restored [H, W, C] float32, unclipped) for every
        image, before it is scored (`jrestore eval --save-images` writes them).
    """
    from tqdm import tqdm

    frameworks = tuple(frameworks or task.frameworks)
    samples: list[Sample] = load_samples(data, protocol, kind=task.kind, channels=task.channels,
                                         scale=task.scale, sigma=sigma)
    out = {fw: {"per_image": {}, "per_image_ssim": {}} for fw in frameworks}
    bar = tqdm(total=len(samples) * len(frameworks), desc=f"{task.name} {protocol}", unit="img",
               disable=None if progress else True, leave=False)
    for sample in samples:
        for fw in frameworks:
            restored = task.restore(sample.inputs, fw, tile=tile)
            if on_restored is not None:
                on_restored(sample.name, fw, restored)
            p, s = score(restored, sample.target, protocol, task.scale, fw)
            out[fw]["per_image"][sample.name] = p
            out[fw]["per_image_ssim"][sample.name] = s
            bar.set_postfix_str(f"{sample.name} {fw} {p:.2f} dB")
            bar.update()
    bar.close()
    for fw in frameworks:
        out[fw]["mean_psnr"] = float(np.mean(list(out[fw]["per_image"].values())))
        out[fw]["mean_ssim"] = float(np.mean(list(out[fw]["per_image_ssim"].values())))
    return out


def result_rows(results: dict) -> list[dict]:
    """`evaluate`'s results as table rows: one per image, {"name", "psnr_<fw>", "ssim_<fw>", ...} in framework
    order, then the row named "mean" with the means."""
    fws = list(results)
    names = list(results[fws[0]]["per_image"])
    rows = [{"name": n, **{f"{m}_{fw}": results[fw][key][n] for fw in fws
                           for m, key in (("psnr", "per_image"), ("ssim", "per_image_ssim"))}} for n in names]
    rows.append({"name": "mean", **{f"{m}_{fw}": results[fw][f"mean_{m}"] for fw in fws for m in ("psnr", "ssim")}})
    return rows
