"""What a recipe minimises, written once per framework over the same batch dict
{"input": [B, h, w, C], "target": [B, H, W, C]} (NHWC NumPy; torch gets NCHW tensors).

    cs (ISTA-Net)   model(target blocks) -> (x_rec, symlosses); ista_net_loss(x_rec, target, syms, gamma)
    ffdnet          model(input, sigma map) -> out; loss(out, target)
    everything else model(input) -> out; loss(out, target)
loss.name picks a pixel loss from jrestore.losses / torch_ref.losses ('mse', 'l1', 'charbonnier', 'ssim',
'mixed_l1_ssim') or 'ista_net'; loss.kwargs go to it.
"""
from __future__ import annotations

__all__ = ["PIXEL_LOSSES", "check_loss", "jax_loss", "torch_loss"]

PIXEL_LOSSES = ("mse", "l1", "charbonnier", "ssim", "mixed_l1_ssim")


def check_loss(cfg) -> None:
    valid = PIXEL_LOSSES + ("ista_net",)
    if cfg.loss.name not in valid:
        raise ValueError(f"loss.name: expected one of {list(valid)}, got {cfg.loss.name!r}")
    if (cfg.loss.name == "ista_net") != (cfg.task.kind == "cs"):
        raise ValueError(f"loss.name: {cfg.loss.name!r} does not fit task.kind {cfg.task.kind!r} "
                         f"(compressed sensing trains with 'ista_net', other tasks with {list(PIXEL_LOSSES)})")


def jax_loss(cfg, model, batch):
    """Scalar loss of an NNX model on a batch of jax arrays."""
    import jrestore.losses as L

    kwargs = dict(cfg.loss.kwargs)
    if cfg.task.kind == "cs":
        x_rec, syms = model(batch["target"])
        return L.ista_net_loss(x_rec, batch["target"], syms, **kwargs)
    x = batch["input"]
    if cfg.model.name == "srcnn":  # SRCNN maps the bicubic-upsampled LR image
        from jrestore.ops.resize import imresize_matlab
        x = imresize_matlab(x, scale=int(cfg.task.scale))
    out = model(x, batch["sigma"]) if "sigma" in batch else model(x)
    return L.get(cfg.loss.name)(out.astype(batch["target"].dtype), batch["target"], **kwargs)


def torch_loss(cfg, model, batch):
    """The same on a torch_ref model and a batch of NCHW tensors."""
    import torch_ref.losses as L

    kwargs = dict(cfg.loss.kwargs)
    if cfg.task.kind == "cs":
        x_rec, syms = model(batch["target"])
        return L.ista_net_loss(x_rec, batch["target"], syms, **kwargs)
    x = batch["input"]
    if cfg.model.name == "srcnn":
        from torch_ref.ops.resize import imresize_matlab
        x = imresize_matlab(x, scale=int(cfg.task.scale))
    out = model(x, batch["sigma"]) if "sigma" in batch else model(x)
    return L.get(cfg.loss.name)(out, batch["target"], **kwargs)
