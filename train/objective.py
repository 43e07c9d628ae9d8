"""What a recipe minimises, written once per framework over the same batch dict
{"input": [B, h, w, C], "target": [B, H, W, C]} (NHWC NumPy; torch gets NCHW tensors).

    cs (ISTA-Net)   model(target blocks) -> (x_rec, symlosses); ista_net_loss(x_rec, target, syms, gamma)
    ffdnet          model(input, sigma map) -> out; loss(out, target)
    everything else model(input) -> out; loss(out, target)
loss.name picks a pixel loss from jrestore.losses / torch_ref.losses ('mse', 'l1', 'charbonnier', 'ssim',
'mixed_l1_ssim') or 'ista_net'; loss.kwargs go to it.
"""
from __future__ import annotations

__all__ = ["PIXEL_LOSSES", "check_loss", "jax_loss", "torch_loss", "build_perceptual"]

PIXEL_LOSSES = ("mse", "l1", "charbonnier", "ssim", "mixed_l1_ssim")


def check_loss(cfg) -> None:
    valid = PIXEL_LOSSES + ("ista_net",)
    if cfg.loss.name not in valid:
        raise ValueError(f"loss.name: expected one of {list(valid)}, got {cfg.loss.name!r}")
    if (cfg.loss.name == "ista_net") != (cfg.task.kind == "cs"):
        raise ValueError(f"loss.name: {cfg.loss.name!r} does not fit task.kind {cfg.task.kind!r} "
                         f"(compressed sensing trains with 'ista_net', other tasks with {list(PIXEL_LOSSES)})")


def build_perceptual(cfg):
    """(jrestore PerceptualLoss, torch_ref PerceptualLoss) with identical VGG weights, or (None, None).

    The weights: loss.perceptual.vgg_weights (a torchvision VGG state dict, e.g. vgg19-dcbb9e9d.pth), or, for
    smoke runs with a reduced num_feat, torch's seeded default init. A full-width VGG without weights would
    be a meaningless loss: refused.
    """
    pc = cfg.loss.perceptual
    if not pc.weight:
        return None, None
    import torch
    import torch_ref.losses as TL
    import jrestore.losses as JL
    from jrestore.convert import load_torch_state_dict

    args = dict(layer_weights=dict(pc.layer_weights), vgg_type=pc.vgg_type, criterion=pc.criterion,
                num_feat=int(pc.num_feat))
    torch.manual_seed(int(cfg.init.seed) + 1)
    tloss = TL.PerceptualLoss(**args)
    if pc.vgg_weights:
        from jrestore.convert.checkpoints import load_state_dict_file
        from torch_ref.models.vgg import load_torchvision_features
        load_torchvision_features(tloss.vgg, load_state_dict_file(pc.vgg_weights, what="loss.perceptual.vgg_weights"))
    elif int(pc.num_feat) == 64:
        raise ValueError("loss.perceptual.vgg_weights: the perceptual loss needs ImageNet VGG weights (torchvision's "
                         "vgg19-dcbb9e9d.pth state dict); pass --set loss.perceptual.vgg_weights=PATH")
    jloss = load_torch_state_dict(JL.PerceptualLoss(**args), tloss.state_dict(), source="perceptual VGG")
    return jloss, tloss


def jax_loss(cfg, model, batch, perceptual=None):
    """Scalar loss of an NNX model on a batch of jax arrays (+ the perceptual term when configured)."""
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
    out = out.astype(batch["target"].dtype)
    loss = cfg.loss.pixel_weight * L.get(cfg.loss.name)(out, batch["target"], **kwargs)
    if perceptual is not None:
        loss = loss + cfg.loss.perceptual.weight * perceptual(out, batch["target"])[0]
    return loss


def torch_loss(cfg, model, batch, perceptual=None):
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
    loss = cfg.loss.pixel_weight * L.get(cfg.loss.name)(out, batch["target"], **kwargs)
    if perceptual is not None:
        loss = loss + cfg.loss.perceptual.weight * perceptual(out, batch["target"])[0]
    return loss
