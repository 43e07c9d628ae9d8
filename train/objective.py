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
    distillation    with a `distill` section (train/distill.py): distill.alpha x the loss above + distill.beta x
                    D_out(out, teacher's out) + distill.feature_weight x the taps' mean D_feat; the frozen
                    teacher sees the student's inputs
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
        self.distill = None
        if "distill" in cfg:  # train/distill.py; a recipe without the section trains exactly as before
            from train.distill import Distillation
            self.distill = Distillation(cfg)
        from train.progressive import Progressive
        self.progressive = Progressive.from_config(cfg)  # None unless cfg.progressive.stages is set

    @property
    def distilling(self) -> bool:
        """Whether a teacher takes part (distill.beta or distill.feature_weight > 0)."""
        return self.distill is not None and self.distill.active

    def _student_taps(self) -> tuple:
        return tuple(s for s, _ in self.distill.taps) if self.distilling and self.distill.feature_active else ()

    def _teacher_taps(self) -> tuple:
        return tuple(t for _, t in self.distill.taps) if self.distilling and self.distill.feature_active else ()

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
        out, rest, _ = self._jax_run(network, params, rest, inputs, call_kwargs=call_kwargs)
        return out, rest

    def _jax_run(self, network, params, rest, inputs, taps=(), call_kwargs=None):
        """jax_apply, plus the outputs (float32) of the submodules at `taps` (train.distill)."""
        import jax.numpy as jnp

        module = network.merge(_jax_cast(params, self._jax_compute()), rest)
        out, feats = self._jax_call(module, inputs, taps, "student", call_kwargs)
        return _jax_cast(out, jnp.float32), network.rest_of(module, like=rest), _jax_cast(feats, jnp.float32)

    def _jax_compute(self):
        import jax.numpy as jnp
        return jnp.bfloat16 if self.compute_dtype == "bfloat16" else jnp.float32

    def _jax_call(self, module, inputs, taps, who, call_kwargs=None):
        inputs = _jax_cast(inputs, self._jax_compute())
        if not taps:
            return module(*inputs, **(call_kwargs or {})), []
        from train.distill import jax_call_with_taps
        return jax_call_with_taps(module, taps, *inputs, who=who)

    def _jax_inputs(self, batch: dict) -> tuple:
        """The model's inputs from a batch of jax arrays."""
        if self.kind == "cs":
            return (batch["target"],)
        x = batch["input"]
        if self.upsample:
            from jrestore.ops.resize import imresize_matlab
            x = imresize_matlab(x, scale=self.upsample)
        return (x, *(batch[n] for n in self._extra_names()))

    def jax_forward(self, network, params, rest, batch: dict, phases: int | None = None):
        """(the model's outputs, updated rest) on a batch of jax arrays; phases: ISTA-Net's phases to run."""
        return self.jax_apply(network, params, rest, *self._jax_inputs(batch), **_phases(phases))

    def jax_teacher(self, teacher, inputs):
        """(the frozen teacher's output, its tap outputs), float32 and without gradient: teacher is a function
        giving the NNX module in eval mode (train.step.frozen_teacher), run under the compute-dtype policy."""
        import jax
        import jax.numpy as jnp

        out, feats = self._jax_call(teacher(), inputs, self._teacher_taps(), "teacher")
        return jax.lax.stop_gradient(_jax_cast((out, feats), jnp.float32))

    def _distill_terms(self, criterion, out, feats, t_out, t_feats):
        """beta x D_out + feature_weight x mean D_feat (the teacher's side already without gradient), with
        `criterion` train.distill.jax_criterion or torch_criterion."""
        from train.distill import check_pair

        d = self.distill
        loss = 0.0
        if d.output_active:
            check_pair(out.shape, t_out.shape, "distill.teacher: the outputs")
            loss = d.beta * criterion(d.output_loss, out, t_out, d.temperature)
        if d.feature_active:
            terms = []
            for (s_path, t_path), s, t in zip(d.taps, feats, t_feats):
                check_pair(s.shape, t.shape, f"distill.taps: {s_path!r} (student) and {t_path!r} (teacher)")
                terms.append(criterion(d.feature_loss, s, t, d.temperature))
            loss = loss + d.feature_weight * sum(terms) / len(terms)
        return loss

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

    def jax_loss(self, network, params, rest, batch: dict, perceptual=None, teacher=None, update=None):
        """(scalar float32 loss, updated rest). teacher: when distilling, a function giving the frozen teacher
        (NNX, eval mode; train.step.frozen_teacher); update: the number of updates applied so far (a traced
        integer), which picks the stage of a progressive schedule."""
        import jax
        import jax.numpy as jnp
        import jrestore.losses as L

        if self.kind == "cs":  # train.distill refuses compressed sensing, so no teacher here
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
        if self.distill is None:
            out, rest = self.jax_forward(network, params, rest, batch)
            return jnp.asarray(self.jax_content(out, batch["target"], perceptual), jnp.float32), rest
        from train.distill import jax_criterion

        inputs = self._jax_inputs(batch)
        out, rest, feats = self._jax_run(network, params, rest, inputs, self._student_taps())
        loss = self.distill.alpha * self.jax_content(out, batch["target"], perceptual) if self.distill.alpha else 0.0
        if self.distilling:
            if teacher is None:
                raise ValueError("teacher: the config distills (distill.beta or distill.feature_weight > 0), "
                                 "expected the frozen teacher, got None")
            t_out, t_feats = self.jax_teacher(teacher, inputs)
            loss = loss + self._distill_terms(jax_criterion, out, feats, t_out, t_feats)
        return jnp.asarray(loss, jnp.float32), rest

    # ---- PyTorch ----
    def torch_apply(self, module, *inputs, **call_kwargs):
        """The outputs (float32) of a torch module on `inputs` (and keyword arguments, e.g. ISTA-Net's phases)
        under the compute-dtype policy."""
        return self._torch_run(module, inputs, call_kwargs=call_kwargs)[0]

    def _torch_run(self, module, inputs, taps=(), who="student", call_kwargs=None):
        """(outputs, [tap outputs]) as float32, under the compute-dtype policy."""
        import torch

        device = inputs[0].device.type
        with torch.autocast(device, dtype=torch.bfloat16, enabled=self.compute_dtype == "bfloat16"):
            if taps:
                from train.distill import torch_call_with_taps
                out, feats = torch_call_with_taps(module, taps, *inputs, who=who)
            else:
                out, feats = module(*inputs, **(call_kwargs or {})), []
        return _to_float32(out), _to_float32(feats)

    def _torch_inputs(self, batch: dict) -> tuple:
        if self.kind == "cs":
            return (batch["target"],)
        x = batch["input"]
        if self.upsample:
            from torch_ref.ops.resize import imresize_matlab
            x = imresize_matlab(x, scale=self.upsample)
        return (x, *(batch[n] for n in self._extra_names()))

    def torch_forward(self, module, batch: dict, phases: int | None = None):
        return self.torch_apply(module, *self._torch_inputs(batch), **_phases(phases))

    def torch_content(self, out, target, perceptual=None):
        import torch_ref.losses

        return self._content(torch_ref.losses, out, target, perceptual)

    def torch_loss(self, module, batch: dict, perceptual=None, teacher=None, update: int | None = None):
        """The scalar loss; teacher: the frozen torch teacher (eval mode) when distilling; update: the number of
        updates applied so far (a progressive schedule's stage)."""
        import torch
        import torch_ref.losses as L

        if self.kind == "cs":  # train.distill refuses compressed sensing, so no teacher here
            phases = None
            if self.progressive is not None:
                phases = self.progressive.stages[self.progressive.stage_of(int(update))]
            x_rec, syms = self.torch_forward(module, batch, phases)
            return self._cs_loss(L, x_rec, batch["target"], syms, perceptual, lambda x: x.repeat(1, 3, 1, 1))
        if self.distill is None:
            out = self.torch_forward(module, batch)
            return self.torch_content(out, batch["target"], perceptual)
        from train.distill import torch_criterion

        inputs = self._torch_inputs(batch)
        out, feats = self._torch_run(module, inputs, self._student_taps())
        loss = self.distill.alpha * self.torch_content(out, batch["target"], perceptual) if self.distill.alpha else 0.0
        if self.distilling:
            if teacher is None:
                raise ValueError("teacher: the config distills (distill.beta or distill.feature_weight > 0), "
                                 "expected the frozen teacher, got None")
            with torch.no_grad():
                t_out, t_feats = self._torch_run(teacher, inputs, self._teacher_taps(), "teacher")
            loss = loss + self._distill_terms(torch_criterion, out, feats, t_out, t_feats)
        return loss


def _phases(phases) -> dict:
    """ISTA-Net's `phases=` keyword, only when a progressive stage sets it (other models take no such argument)."""
    return {} if phases is None else {"phases": int(phases)}


def _jax_cast(tree, dtype):
    """Every floating leaf of `tree` as `dtype` (other leaves unchanged)."""
    import jax
    import jax.numpy as jnp
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


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
