"""The PyTorch twin of the trainer: the same config, initial weights and batches, torch_ref models and
losses, torch.optim with the same semantics (train.optim). Used to prove that a JAX run matches the
PyTorch run a user would have made, step by step and in validation PSNR.

    from train.torch_trainer import TorchTrainer
    tt = TorchTrainer(cfg, initial_state)
    for batch in batches: tt.step(batch)          # batch: {"input", "target"} NHWC NumPy
"""
from __future__ import annotations

import numpy as np

from train.objective import Objective, build_perceptual
from train.optim import make_torch
from train.state import initial_torch_state, model_kwargs

__all__ = ["TorchTrainer", "nchw_tensors", "place"]


def nchw_tensors(batch: dict, device, channels_last: bool = False) -> dict:
    """NHWC NumPy arrays -> float32 NCHW tensors on `device` (channels_last: the same shape, NHWC strides)."""
    import torch

    out = {}
    for k, v in batch.items():
        t = torch.from_numpy(np.ascontiguousarray(np.asarray(v, np.float32).transpose(0, 3, 1, 2))).to(device)
        out[k] = t.contiguous(memory_format=torch.channels_last) if channels_last else t
    return out


def place(module, device, channels_last: bool = False):
    """`module` on `device`, in torch.channels_last memory format when asked."""
    import torch

    module = module.to(device)
    return module.to(memory_format=torch.channels_last) if channels_last else module


class TorchTrainer:
    """The twin's state and step. device / channels_last / compile choose how the step runs (the benchmark
    times all three layouts through this one step): the model and discriminator on `device`, in
    torch.channels_last memory format, called through torch.compile(model). The math is unchanged."""

    def __init__(self, cfg, initial_state: dict | None, *, device="cpu", channels_last: bool = False,
                 compile: bool = False):
        import torch
        import torch_ref.models as tmodels

        self.objective = Objective(cfg)
        self.cfg, self.device, self.channels_last = cfg, torch.device(device), channels_last
        self.model = tmodels.get(cfg.model.name, **model_kwargs(cfg))
        state = initial_state if initial_state is not None else initial_torch_state(cfg)
        self.model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
        self.model = self._place(self.model.train())
        self.run = torch.compile(self.model) if compile else self.model
        self.perceptual = build_perceptual(cfg)[1]
        if self.perceptual is not None:
            self.perceptual = self._place(self.perceptual)
        self.teacher = None
        if self.objective.distilling:  # train/distill.py: frozen, eval mode, outside the optimiser
            from train.distill import load_teachers
            self.teacher = self._place(load_teachers(self.objective.distill, ("torch",))["torch"])
        self.gan = None
        if cfg.gan.weight:
            from train.gan import TorchGAN, initial_discriminator_state
            self.gan = TorchGAN(cfg, initial_discriminator_state(cfg), self.objective, place=self._place,
                                compile=compile)
        self.opt, self.sched, self.clip = make_torch(cfg, self.model.parameters(), int(cfg.train.steps))
        self.ema = ({k: v.detach().clone() for k, v in self.model.named_parameters()}
                    if cfg.optim.ema_decay else None)

    def _place(self, module):
        return place(module, self.device, self.channels_last)

    def tensors(self, batch: dict) -> dict:
        """A NHWC NumPy batch (+ the model's extra inputs, e.g. FFDNet's sigma) as NCHW tensors on the device,
        in the trainer's memory format."""
        n = len(next(iter(batch.values())))
        return nchw_tensors({**batch, **self.objective.extras(n)}, self.device, self.channels_last)

    def step(self, batch: dict) -> dict:
        """One optimisation step on a NHWC NumPy batch; returns {"loss", "lr", "grad_norm"} as floats."""
        return {k: float(v) for k, v in self.step_tensors(self.tensors(batch)).items()}

    def step_tensors(self, tb: dict) -> dict:
        """One optimisation step on a batch from tensors(); returns {"loss", "lr", "grad_norm"} (0-d tensors
        and the lr float) without waiting for the device."""
        import torch

        lr = self.opt.param_groups[0]["lr"]
        self.opt.zero_grad(set_to_none=True)
        if self.gan is None:
            stage = {} if self.objective.progressive is None else {"update": self.sched.last_epoch}
            loss = self.objective.torch_loss(self.run, tb, self.perceptual, self.teacher, **stage)
        else:  # train/gan.py: G step (D frozen), then D step on the same, detached output
            fake = self.objective.torch_forward(self.run, tb)
            loss = self.objective.torch_content(fake, tb["target"], self.perceptual) + self.gan.generator_term(fake)
        loss.backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        if self.objective.progressive is not None:  # frozen phases: grad None, so Adam skips them
            progressive = self.objective.progressive
            progressive.torch_freeze(self.model, progressive.stage_of(self.sched.last_epoch))
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.opt.step()
        self.sched.step()
        if self.gan is not None:
            self.last_d_loss = self.gan.discriminator_step(tb["target"], fake)
        if self.ema is not None:
            d = float(self.cfg.optim.ema_decay)
            with torch.no_grad():
                for k, p in self.model.named_parameters():
                    self.ema[k].mul_(d).add_(p.detach(), alpha=1 - d)
        return {"loss": loss.detach(), "lr": lr, "grad_norm": norm}

    def state_dict(self) -> dict:
        return {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
