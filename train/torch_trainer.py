"""The PyTorch twin of the trainer: the same config, initial weights and batches, torch_ref models and
losses, torch.optim with the same semantics (train.optim). Used to prove that a JAX run matches the
PyTorch run a user would have made, step by step and in validation PSNR.

    from train.torch_trainer import TorchTrainer
    tt = TorchTrainer(cfg, initial_state)
    for batch in batches: tt.step(batch)          # batch: {"input", "target"} NHWC NumPy
"""
from __future__ import annotations

import numpy as np

from train.objective import build_perceptual, check_loss, torch_loss
from train.optim import make_torch

__all__ = ["TorchTrainer"]


def _nchw(a):
    import torch
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a, np.float32).transpose(0, 3, 1, 2)))


class TorchTrainer:
    def __init__(self, cfg, initial_state: dict):
        import torch
        import torch_ref.models as tmodels

        check_loss(cfg)
        self.cfg = cfg
        from train.trainer import model_kwargs
        self.model = tmodels.get(cfg.model.name, **model_kwargs(cfg))
        self.model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in initial_state.items()})
        self.model.train()
        self.perceptual = build_perceptual(cfg)[1]
        self.gan = None
        if cfg.gan.weight:
            from train.gan import TorchGAN, initial_discriminator_state
            self.gan = TorchGAN(cfg, initial_discriminator_state(cfg))
        self.opt, self.sched, self.clip = make_torch(cfg, self.model.parameters(), int(cfg.train.steps))
        self.ema = ({k: v.detach().clone() for k, v in self.model.named_parameters()}
                    if cfg.optim.ema_decay else None)

    def step(self, batch: dict) -> dict:
        """One optimisation step on a NHWC NumPy batch; returns {"loss", "lr", "grad_norm"}."""
        import torch

        tb = {k: _nchw(v) for k, v in batch.items()}
        if self.cfg.model.name == "ffdnet":
            tb["sigma"] = torch.full((tb["input"].shape[0], 1, 1, 1), self.cfg.task.sigma / 255.0)
        lr = self.opt.param_groups[0]["lr"]
        self.opt.zero_grad(set_to_none=True)
        if self.gan is None:
            loss = torch_loss(self.cfg, self.model, tb, self.perceptual)
        else:  # train/gan.py: G step (D frozen), then D step on the same, detached output
            import torch_ref.losses as L
            fake = self.model(tb["input"])
            loss = self.gan.generator_term(fake)
            if self.cfg.loss.pixel_weight:
                loss = loss + self.cfg.loss.pixel_weight * L.get(self.cfg.loss.name)(fake, tb["target"])
            if self.perceptual is not None:
                loss = loss + self.cfg.loss.perceptual.weight * self.perceptual(fake, tb["target"])[0]
        loss.backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
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
        return {"loss": float(loss.detach()), "lr": float(lr), "grad_norm": float(norm)}

    def state_dict(self) -> dict:
        return {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
