"""The training objective, defined once: what a config minimises and in which dtype the networks run. The
JAX trainer (train/step.py), its PyTorch twin (train/torch_trainer.py) and the adversarial path (train/gan.py)
all call one `Objective`, so a loss argument or the compute-dtype policy cannot differ between them.

Batches are dicts of NHWC arrays (torch: NCHW tensors): {"input": [B, h, w, C], "target": [B, H, W, C]} plus
one entry per extra input of the model's spec (FFDNet's "sigma": [B, 1, 1, 1], filled by `extras`).

    model inputs    cs: (target,) (ISTA-Net samples the blocks itself); otherwise (input, *extras), the input
                    first MATLAB-bicubic upsampled when the spec's input_transform is "bicubic_upsample" (SRCNN)
    cs loss         ista_net_loss(x_rec, target, symlosses, **loss.kwargs)
                    + loss.perceptual.weight * perceptual(x_rec, target)  (when > 0; the grey blocks repeated to
                    3 channels: seed 000's hybrid pixel + VGG loss); with a `progressive` schedule
                    (train/progressive.py) the model runs the phases of the update's stage
    other loss      loss.pixel_weight * pixel(out, target, **loss.kwargs)  (skipped when the weight is 0)
                    + loss.perceptual.weight * perceptual(out, target)    (when that weight is > 0)
    compute dtype   train.compute_dtype: the trained networks' parameters and inputs are cast to it for the
                    forward pass (JAX: cast; torch: torch.autocast), outputs come back as float32, the losses,
                    gradients and the master weights stay float32, and BatchNorm statistics keep their dtype.
loss.name picks a pixel loss from jrestore.losses / torch_ref.losses ('mse', 'l1', 'charbonnier', 'ssim',
'mixed_l1_ssim') or 'ista_net'.
"""
from __future__ import annotations

import numpy as np

__all__ = ["PIXEL_LOSSES", "Objective", "check_loss", "build_perceptual"]

PIXEL_LOSSES = ("mse", "l1", "charbonnier", "ssim", "mixed_l1_ssim")


def check_loss(cfg) -> None:
    valid = PIXEL_LOSSES + ("ista_net",)
    if cfg.loss.name not in valid:
        raise ValueError(f"loss.name: expected one of {list(valid)}, got {cfg.loss.name!r}")
    if (cfg.loss.name == "ista_net") != (cfg.task.kind == "cs"):
        raise ValueError(f"loss.name: {cfg.loss.name!r} does not fit task.kind {cfg.task.kind!r} "
                         f"(compressed sensing trains with 'ista_net', other tasks with {list(PIXEL_LOSSES)})")


class Objective:
    """cfg's loss (name, arguments, weights), the model's input contract (its spec's extra inputs and input
    transform) and the compute-dtype policy; `jax_*` and `torch_*` methods apply them in each framework."""

    def __init__(self, cfg):
        from jrestore.core.spec import get_spec

        check_loss(cfg)
        self.kind = cfg.task.kind
        self.loss_name = cfg.loss.name
        self.loss_kwargs = dict(cfg.loss.kwargs)
        self.pixel_weight = float(cfg.loss.pixel_weight)
        self.perceptual_weight = float(cfg.loss.perceptual.weight)
        self.compute_dtype = str(cfg.train.compute_dtype)
        spec = get_spec(cfg.model.name)
        # training feeds each extra input one fixed value, the config's task.<name> (FFDNet: task.sigma)
        missing = [e.name for e in spec.extra_inputs if e.name not in cfg.task]
        if missing:
            raise ValueError(f"task.{missing[0]}: model {cfg.model.name!r} takes the extra input {missing[0]!r}; "
                             f"expected task.{missing[0]} in the config, got none")
        self.extra_inputs = tuple((e, float(cfg.task[e.name])) for e in spec.extra_inputs)
        self.upsample = int(cfg.task.scale) if spec.input_transform == "bicubic_upsample" else 0
        from train.progressive import Progressive
        self.progressive = Progressive.from_config(cfg)  # None unless cfg.progressive.stages is set

    # ---- framework-neutral ----
    def extras(self, batch: int) -> dict[str, np.ndarray]:
        """The extra inputs for `batch` samples: {name: float32 [batch, *shape]} (FFDNet: sigma / 255)."""
        return {e.name: e.array(value, batch) for e, value in self.extra_inputs}

    def _extra_names(self) -> tuple:
        return tuple(e.name for e, _ in self.extra_inputs)

    # ---- JAX ----
    def jax_apply(self, network, params, rest, *inputs, **call_kwargs):
        """(outputs as float32, updated rest) of `network` (train.state.Network) with params / rest (pure dicts)
        on `inputs` (and static keyword arguments, e.g. ISTA-Net's phases), under the compute-dtype policy."""
        import jax
        import jax.numpy as jnp

        compute = jnp.bfloat16 if self.compute_dtype == "bfloat16" else jnp.float32

        def cast(tree, dtype):
            return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)

        module = network.merge(cast(params, compute), rest)
        out = module(*cast(inputs, compute), **call_kwargs)
        return cast(out, jnp.float32), network.rest_of(module, like=rest)

    def jax_forward(self, network, params, rest, batch: dict, phases: int | None = None):
        """(the model's outputs, updated rest) on a batch of jax arrays; phases: ISTA-Net's phases to run."""
        if self.kind == "cs":
            return self.jax_apply(network, params, rest, batch["target"], **_phases(phases))
        x = batch["input"]
        if self.upsample:
            from jrestore.ops.resize import imresize_matlab
            x = imresize_matlab(x, scale=self.upsample)
        return self.jax_apply(network, params, rest, x, *(batch[n] for n in self._extra_names()))

    def _content(self, losses, out, target, perceptual):
        """pixel_weight x loss(out, target, **loss.kwargs) + perceptual_weight x perceptual(out, target), with
        `losses` jrestore.losses or torch_ref.losses (the same names and arguments)."""
        loss = 0.0
        if self.pixel_weight:
            loss = self.pixel_weight * losses.get(self.loss_name)(out, target, **self.loss_kwargs)
        if perceptual is not None and self.perceptual_weight:
            loss = loss + self.perceptual_weight * perceptual(out, target)[0]
        return loss

    def jax_content(self, out, target, perceptual=None):
        """The pixel and perceptual terms of an output against its target (the GAN path adds its own term)."""
        import jrestore.losses

        return self._content(jrestore.losses, out, target, perceptual)

    def _cs_loss(self, losses, x_rec, target, syms, perceptual, repeat):
        """ista_net_loss (+ perceptual_weight x perceptual on the blocks repeated to RGB by `repeat`)."""
        loss = losses.ista_net_loss(x_rec, target, syms, **self.loss_kwargs)
        if perceptual is not None and self.perceptual_weight:
            loss = loss + self.perceptual_weight * perceptual(repeat(x_rec), repeat(target))[0]
        return loss

    def jax_loss(self, network, params, rest, batch: dict, perceptual=None, update=None):
        """(scalar float32 loss, updated rest). update: the number of updates applied so far (a traced
        integer), which picks the stage of a progressive schedule."""
        import jax
        import jax.numpy as jnp
        import jrestore.losses as L

        if self.kind == "cs":
            def cs(phases):
                def loss(params, rest):
                    (x_rec, syms), rest = self.jax_forward(network, params, rest, batch, phases)
                    return self._cs_loss(L, x_rec, batch["target"], syms, perceptual,
                                         lambda x: jnp.repeat(x, 3, axis=-1)), rest
                return loss

            if self.progressive is None:
                return cs(None)(params, rest)
            # one branch per distinct phase count; lax.switch runs only the update's stage's branch
            counts = sorted(set(self.progressive.stages))
            branch = jnp.asarray([counts.index(n) for n in self.progressive.stages], jnp.int32)
            return jax.lax.switch(branch[self.progressive.stage_of(update)], [cs(n) for n in counts], params, rest)
        out, rest = self.jax_forward(network, params, rest, batch)
        return jnp.asarray(self.jax_content(out, batch["target"], perceptual), jnp.float32), rest

    # ---- PyTorch ----
    def torch_apply(self, module, *inputs, **call_kwargs):
        """The outputs (float32) of a torch module on `inputs` under the compute-dtype policy."""
        import torch

        device = inputs[0].device.type
        with torch.autocast(device, dtype=torch.bfloat16, enabled=self.compute_dtype == "bfloat16"):
            out = module(*inputs, **call_kwargs)
        return _to_float32(out)

    def torch_forward(self, module, batch: dict, phases: int | None = None):
        if self.kind == "cs":
            return self.torch_apply(module, batch["target"], **_phases(phases))
        x = batch["input"]
        if self.upsample:
            from torch_ref.ops.resize import imresize_matlab
            x = imresize_matlab(x, scale=self.upsample)
        return self.torch_apply(module, x, *(batch[n] for n in self._extra_names()))

    def torch_content(self, out, target, perceptual=None):
        import torch_ref.losses

        return self._content(torch_ref.losses, out, target, perceptual)

    def torch_loss(self, module, batch: dict, perceptual=None, update: int | None = None):
        """The scalar loss; update: the number of updates applied so far (a progressive schedule's stage)."""
        import torch_ref.losses as L

        if self.kind == "cs":
            phases = None
            if self.progressive is not None:
                phases = self.progressive.stages[self.progressive.stage_of(int(update))]
            x_rec, syms = self.torch_forward(module, batch, phases)
            return self._cs_loss(L, x_rec, batch["target"], syms, perceptual, lambda x: x.repeat(1, 3, 1, 1))
        out = self.torch_forward(module, batch)
        return self.torch_content(out, batch["target"], perceptual)


def _phases(phases) -> dict:
    """ISTA-Net's `phases=` keyword, only when a progressive stage sets it (other models take no such argument)."""
    return {} if phases is None else {"phases": int(phases)}


def _to_float32(out):
    """A torch output (a tensor, or nested tuples / lists of them, as ISTA-Net's) as float32."""
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float32(o) for o in out)
    return out.float()


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
                num_feat=int(pc.num_feat), use_input_norm=bool(pc.use_input_norm))
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
