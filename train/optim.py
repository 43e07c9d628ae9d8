"""Optimisers and learning-rate schedules with PyTorch's semantics, built from one config for both
frameworks (docs/conventions.md §9). Schedules count optimizer updates (iterations), as BasicSR and KAIR
step their schedulers every iteration.

    name      PyTorch                                   optax
    adam      Adam(lr, betas, eps)                      adam(lr, b1, b2, eps)
    adam_l2   Adam(..., weight_decay=wd): grad += wd p  chain(add_decayed_weights(wd), adam)  (adamw is wrong)
    adamw     AdamW(..., weight_decay=wd): p *= 1-lr wd adamw(..., weight_decay=wd)
Schedules: constant | step (StepLR) | multistep (MultiStepLR) | cosine (linear warm-up from 0, then
CosineAnnealingLR down to min_lr, held there after the end rather than oscillating as torch's closed form).
Gradient clipping: optax.clip_by_global_norm vs torch clip_grad_norm_ (torch adds 1e-6 to the norm).
"""
from __future__ import annotations

import math

__all__ = ["make_schedule", "make_optax", "make_torch", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("adam", "adam_l2", "adamw")
SCHEDULES = ("constant", "step", "multistep", "cosine")


def _check(cfg_optim, cfg_schedule):
    if cfg_optim.name not in OPTIMIZERS:
        raise ValueError(f"optim.name: expected one of {list(OPTIMIZERS)}, got {cfg_optim.name!r}")
    if cfg_schedule.name not in SCHEDULES:
        raise ValueError(f"schedule.name: expected one of {list(SCHEDULES)}, got {cfg_schedule.name!r}")
    if cfg_schedule.name == "step" and cfg_schedule.step_size <= 0:
        raise ValueError(f"schedule.step_size: expected a positive number of steps, got {cfg_schedule.step_size}")


def lr_at(step: int, lr: float, sched, total_steps: int) -> float:
    """The learning rate used by update number `step` (0-based), framework-free (the torch side uses it)."""
    if sched.name == "constant":
        return lr
    if sched.name == "step":
        return lr * sched.gamma ** (step // sched.step_size)
    if sched.name == "multistep":
        return lr * sched.gamma ** sum(step >= m for m in sched.milestones)
    warm = sched.warmup_steps
    if step < warm:
        return lr * step / warm
    t = min(step - warm, max(total_steps - warm, 1))
    return sched.min_lr + (lr - sched.min_lr) * 0.5 * (1 + math.cos(math.pi * t / max(total_steps - warm, 1)))


def make_schedule(cfg_optim, sched, total_steps: int):
    import optax

    lr = float(cfg_optim.lr)
    if sched.name == "constant":
        return optax.constant_schedule(lr)
    if sched.name == "step":
        return optax.exponential_decay(lr, transition_steps=sched.step_size, decay_rate=sched.gamma, staircase=True)
    if sched.name == "multistep":
        return optax.piecewise_constant_schedule(lr, {int(m): float(sched.gamma) for m in sched.milestones})
    decay = max(total_steps - sched.warmup_steps, 1)
    cosine = optax.cosine_decay_schedule(lr, decay_steps=decay, alpha=sched.min_lr / lr if lr else 0.0)
    if not sched.warmup_steps:
        return cosine
    return optax.join_schedules([optax.linear_schedule(0.0, lr, sched.warmup_steps), cosine], [sched.warmup_steps])


def make_optax(cfg, total_steps: int):
    """(optax GradientTransformation, schedule) for cfg.optim / cfg.schedule."""
    import optax

    from train.progressive import Progressive

    o, s = cfg.optim, cfg.schedule
    _check(o, s)
    schedule = make_schedule(o, s, total_steps)
    progressive = Progressive.from_config(cfg)
    if progressive is not None:  # Adam per phase, masked by the stage (train/progressive.py)
        return progressive.optax(o, schedule), schedule
    parts = []
    if o.clip_grad_norm:
        parts.append(optax.clip_by_global_norm(float(o.clip_grad_norm)))
    if o.name == "adam_l2" and o.weight_decay:
        parts.append(optax.add_decayed_weights(float(o.weight_decay)))
    if o.name == "adamw":
        parts.append(optax.adamw(schedule, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=float(o.weight_decay)))
    else:
        parts.append(optax.adam(schedule, b1=o.b1, b2=o.b2, eps=o.eps))
    return optax.chain(*parts), schedule


def make_torch(cfg, params, total_steps: int):
    """(torch optimizer, LambdaLR scheduler, clip norm or 0) with the same semantics."""
    import torch

    o, s = cfg.optim, cfg.schedule
    _check(o, s)
    kw = dict(lr=float(o.lr), betas=(o.b1, o.b2), eps=o.eps)
    if o.name == "adamw":
        opt = torch.optim.AdamW(params, weight_decay=float(o.weight_decay), **kw)
    else:
        opt = torch.optim.Adam(params, weight_decay=float(o.weight_decay) if o.name == "adam_l2" else 0.0, **kw)
    base = float(o.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: (lr_at(step, base, s, total_steps) / base) if base else 0.0)
    return opt, sched, float(o.clip_grad_norm or 0.0)
