"""Adversarial training (SRGAN): a generator and a discriminator with two optimisers, in the order of
BasicSR's SRGANModel.optimize_parameters, in JAX and in PyTorch:

    fake = G(lr)
    G step: pixel_weight * pixel(fake, hr) + perceptual(fake, hr) + gan.weight * gan_loss(D(fake), real)
            (D frozen, but in train mode: its BatchNorm statistics update on this forward, as in PyTorch)
    D step: gan_loss(D(hr), real, is_disc) + gan_loss(D(fake.detach()), fake, is_disc), gradients summed

The discriminator starts from torch_ref's seeded init (init.seed + 2), converted, like the generator.
"""
from __future__ import annotations

__all__ = ["initial_discriminator_state", "d_config", "jax_gan_step", "TorchGAN"]


def d_config(cfg):
    """A config view whose `optim` is the discriminator's (for train.optim builders)."""
    from ml_collections import ConfigDict
    return ConfigDict({"optim": cfg.gan.optim.to_dict(), "schedule": cfg.schedule.to_dict()})


def initial_discriminator_state(cfg) -> dict:
    import torch
    import torch_ref.models as tmodels
    torch.manual_seed(int(cfg.init.seed) + 2)
    return tmodels.get(cfg.gan.discriminator.name, **dict(cfg.gan.discriminator.kwargs)).state_dict()


def jax_gan_step(trainer, state, batch, frozen):
    """One G update then one D update; returns (new state, metrics). `trainer` holds the graphdefs and txs."""
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx
    import jrestore.losses as L

    cfg = trainer.cfg
    gc = cfg.gan
    perceptual = nnx.merge(trainer._frozen_def, frozen) if frozen is not None else None

    def pure(module_state):
        return nnx.to_pure_dict(module_state)

    def g_loss_fn(params):
        g = trainer._merge(params, state["rest"])
        fake = g(batch["input"])
        _, _, g_rest = nnx.split(g, nnx.Param, ...)
        loss = 0.0
        if cfg.loss.pixel_weight:
            loss = loss + cfg.loss.pixel_weight * L.get(cfg.loss.name)(fake, batch["target"], **dict(cfg.loss.kwargs))
        if perceptual is not None:
            loss = loss + cfg.loss.perceptual.weight * perceptual(fake, batch["target"])[0]
        d = trainer._merge_d(jax.lax.stop_gradient(state["d_params"]), state["d_rest"])
        l_gan = L.gan_loss(d(fake), True, is_disc=False, gan_type=gc.gan_type, loss_weight=float(gc.weight))
        _, _, d_rest = nnx.split(d, nnx.Param, ...)
        return loss + l_gan, (fake, pure(g_rest), pure(d_rest), l_gan)

    (g_loss, (fake, g_rest, d_rest, l_gan)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state["params"])
    g_updates, g_opt = trainer.tx.update(g_grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], g_updates)
    fake = jax.lax.stop_gradient(fake)

    def d_loss_fn(d_params):
        d = trainer._merge_d(d_params, d_rest)
        l_real = L.gan_loss(d(batch["target"]), True, is_disc=True, gan_type=gc.gan_type)
        _, _, rest1 = nnx.split(d, nnx.Param, ...)
        d = trainer._merge_d(d_params, pure(rest1))
        l_fake = L.gan_loss(d(fake), False, is_disc=True, gan_type=gc.gan_type)
        _, _, rest2 = nnx.split(d, nnx.Param, ...)
        return l_real + l_fake, pure(rest2)

    (d_loss, d_rest), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state["d_params"])
    d_updates, d_opt = trainer.d_tx.update(d_grads, state["d_opt_state"], state["d_params"])
    d_params = optax.apply_updates(state["d_params"], d_updates)
    new = {"params": params, "rest": g_rest, "opt_state": g_opt, "d_params": d_params, "d_rest": d_rest,
           "d_opt_state": d_opt}
    metrics = {"loss": g_loss, "l_g_gan": l_gan, "l_d": d_loss, "grad_norm": optax.tree.norm(g_grads),
               "lr": trainer.schedule(trainer.step_count(state))}
    return new, metrics


class TorchGAN:
    """The discriminator side of TorchTrainer (same order and losses as jax_gan_step)."""

    def __init__(self, cfg, d_state: dict, *, place=None, compile: bool = False):
        """place: module -> module on the trainer's device and memory format; compile: call D through
        torch.compile."""
        import numpy as np
        import torch
        import torch_ref.models as tmodels
        from train.optim import make_torch

        self.cfg = cfg
        self.d = tmodels.get(cfg.gan.discriminator.name, **dict(cfg.gan.discriminator.kwargs))
        self.d.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in d_state.items()})
        self.d.train()
        if place is not None:
            self.d = place(self.d)
        self.run_d = torch.compile(self.d) if compile else self.d
        self.opt, self.sched, _ = make_torch(d_config(cfg), self.d.parameters(), int(cfg.train.steps))

    def generator_term(self, fake):
        import torch_ref.losses as L
        for p in self.d.parameters():
            p.requires_grad = False
        return L.gan_loss(self.run_d(fake), True, is_disc=False, gan_type=self.cfg.gan.gan_type,
                          loss_weight=float(self.cfg.gan.weight))

    def discriminator_step(self, real, fake) -> float:
        import torch_ref.losses as L
        for p in self.d.parameters():
            p.requires_grad = True
        self.opt.zero_grad(set_to_none=True)
        l_real = L.gan_loss(self.run_d(real), True, is_disc=True, gan_type=self.cfg.gan.gan_type)
        l_real.backward()
        l_fake = L.gan_loss(self.run_d(fake.detach()), False, is_disc=True, gan_type=self.cfg.gan.gan_type)
        l_fake.backward()
        self.opt.step()
        self.sched.step()
        return float(l_real.detach() + l_fake.detach())
