"""Adversarial training (SRGAN): a generator and a discriminator with two optimisers, in the order of
BasicSR's SRGANModel.optimize_parameters, in JAX and in PyTorch:

    fake = G(lr)
    G step: objective's content terms (pixel_weight * pixel(fake, hr, **loss.kwargs) + perceptual(fake, hr))
            + gan.weight * gan_loss(D(fake), real)
            (D frozen, but in train mode: its BatchNorm statistics update on this forward, as in PyTorch)
    D step: gan_loss(D(hr), real, is_disc) + gan_loss(D(fake.detach()), fake, is_disc), gradients summed

Both networks run under the objective's compute-dtype policy (train/objective.py). The discriminator starts
from torch_ref's seeded init (init.seed + 2), converted, like the generator.
"""
from __future__ import annotations

__all__ = ["initial_discriminator_state", "d_config", "make_gan_step", "TorchGAN"]


def d_config(cfg):
    """A config view whose `optim` is the discriminator's (for train.optim builders)."""
    from ml_collections import ConfigDict
    return ConfigDict({"optim": cfg.gan.optim.to_dict(), "schedule": cfg.schedule.to_dict()})


def initial_discriminator_state(cfg) -> dict:
    import torch
    import torch_ref.models as tmodels
    torch.manual_seed(int(cfg.init.seed) + 2)
    return tmodels.get(cfg.gan.discriminator.name, **dict(cfg.gan.discriminator.kwargs)).state_dict()


def make_gan_step(objective, setup, gan_type: str, gan_weight: float, ema_decay: float = 0.0):
    """One G update then one D update: (state, batch, frozen) -> (new state, metrics). setup:
    train.state.TrainSetup with its discriminator and d_tx."""
    import jax
    import optax
    import jrestore.losses as L
    from train.step import ema_update, frozen_module, step_count

    gen, disc = setup.generator, setup.discriminator

    def step(state, batch, frozen):
        perceptual = frozen_module(setup, frozen)

        def g_loss_fn(params):
            fake, g_rest = objective.jax_forward(gen, params, state["rest"], batch)
            logits, d_rest = objective.jax_apply(disc, jax.lax.stop_gradient(state["d_params"]), state["d_rest"],
                                                 fake)
            l_gan = L.gan_loss(logits, True, is_disc=False, gan_type=gan_type, loss_weight=gan_weight)
            return objective.jax_content(fake, batch["target"], perceptual) + l_gan, (fake, g_rest, d_rest, l_gan)

        (g_loss, (fake, g_rest, d_rest, l_gan)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
            state["params"])
        g_updates, g_opt = setup.tx.update(g_grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], g_updates)
        fake = jax.lax.stop_gradient(fake)

        def d_loss_fn(d_params):
            logits, rest1 = objective.jax_apply(disc, d_params, d_rest, batch["target"])
            l_real = L.gan_loss(logits, True, is_disc=True, gan_type=gan_type)
            logits, rest2 = objective.jax_apply(disc, d_params, rest1, fake)
            l_fake = L.gan_loss(logits, False, is_disc=True, gan_type=gan_type)
            return l_real + l_fake, rest2

        (d_loss, d_rest), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state["d_params"])
        d_updates, d_opt = setup.d_tx.update(d_grads, state["d_opt_state"], state["d_params"])
        d_params = optax.apply_updates(state["d_params"], d_updates)
        new = {"params": params, "rest": g_rest, "opt_state": g_opt, "d_params": d_params, "d_rest": d_rest,
               "d_opt_state": d_opt}
        if "ema" in state:
            new["ema"] = ema_update(state["ema"], params, ema_decay)
        metrics = {"loss": g_loss, "l_g_gan": l_gan, "l_d": d_loss, "grad_norm": optax.tree.norm(g_grads),
                   "lr": setup.schedule(step_count(state["opt_state"]))}
        return new, metrics

    return step


class TorchGAN:
    """The discriminator side of TorchTrainer (same order and losses as make_gan_step)."""

    def __init__(self, cfg, d_state: dict, objective, *, place=None, compile: bool = False):
        """objective: the generator's train.objective.Objective (its compute-dtype policy applies to D too);
        place: module -> module on the trainer's device and memory format; compile: call D through
        torch.compile."""
        import numpy as np
        import torch
        import torch_ref.models as tmodels
        from train.optim import make_torch

        self.cfg, self.objective = cfg, objective
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
        return L.gan_loss(self.objective.torch_apply(self.run_d, fake), True, is_disc=False,
                          gan_type=self.cfg.gan.gan_type, loss_weight=float(self.cfg.gan.weight))

    def discriminator_step(self, real, fake) -> float:
        import torch_ref.losses as L
        for p in self.d.parameters():
            p.requires_grad = True
        self.opt.zero_grad(set_to_none=True)
        gan_type = self.cfg.gan.gan_type
        l_real = L.gan_loss(self.objective.torch_apply(self.run_d, real), True, is_disc=True, gan_type=gan_type)
        l_real.backward()
        l_fake = L.gan_loss(self.objective.torch_apply(self.run_d, fake.detach()), False, is_disc=True,
                            gan_type=gan_type)
        l_fake.backward()
        self.opt.step()
        self.sched.step()
        return float(l_real.detach() + l_fake.detach())
