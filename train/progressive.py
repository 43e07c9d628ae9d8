"""Progressive phase-wise training of an unfolded network (seed 000, "渐进式训练策略": train a network of 3
phases first, freeze them and add the next phases, then fine-tune the whole network end to end).

Config (the `progressive` section of the ISTA-Net recipes; off while `stages` is empty):

    progressive.stages   e.g. (3, 6, 9, 9): how many phases the forward pass runs in each stage; non-decreasing,
                         the last one equal to model.kwargs.num_phases (the network that is validated and saved)
    progressive.steps    e.g. (n1, n2, n3, n4): updates per stage; stage k covers updates
                         [sum(steps[:k]), sum(steps[:k + 1])), and updates past the sum stay in the last stage
                         (so train.steps may differ from the sum, as it may change when a run is resumed)
    progressive.earlier  "freeze": the phases an earlier stage added are not updated; "finetune": they keep
                         training. A stage with as many phases as the one before it trains all of them (the
                         seed's closing end-to-end fine-tuning) in either mode.

The stage is a function of the update count (the schedule's counter in the optimiser state; the torch twin's
LambdaLR step), so a resumed run continues in the right stage with no state of its own.

What a stage does, the same in both frameworks:
- its forward pass runs the first `stages[k]` phases (the model's `phases=` argument); the later phases get
  no gradient (JAX: exact zeros; PyTorch: `.grad` None).
- every phase has its own Adam (moments and bias-correction count) that runs only in the stages where the
  phase trains: optax.multi_transform over the phases, each an optax.transforms.conditionally_mask of
  scale_by_adam, so a frozen or not yet used phase gets a zero update and keeps its Adam state untouched.
  That is what torch.optim.Adam does to a parameter whose `.grad` is None (its per-parameter `step` does not
  advance), which is how the twin freezes (train/torch_trainer.py: the frozen phases' grads set to None).
- parameters outside the phases (a learned Phi) train in every stage.
- one learning-rate schedule over the whole run (optax.scale_by_learning_rate after the per-phase Adams).
Only Adam without gradient clipping is supported (clipping would have to leave the frozen phases out of
the norm in both frameworks); other settings are one ValueError.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Progressive", "EARLIER", "phase_of"]

EARLIER = ("freeze", "finetune")
PHASES_CONTAINER = "fcs"  # ISTA-Net's ModuleList of phases: parameters fcs.<i>.* belong to phase i


def phase_of(path) -> int | None:
    """The phase a parameter belongs to, from its path (('fcs', 3, 'conv_D') or 'fcs.3.conv_D'), or None."""
    parts = path.split(".") if isinstance(path, str) else [getattr(p, "key", getattr(p, "idx", p)) for p in path]
    if len(parts) >= 2 and str(parts[0]) == PHASES_CONTAINER:
        return int(parts[1])
    return None


@dataclass(frozen=True)
class Progressive:
    stages: tuple  # phases run in each stage
    steps: tuple  # updates per stage
    earlier: str  # "freeze" | "finetune"

    @classmethod
    def from_config(cls, cfg) -> "Progressive | None":
        """The schedule of cfg.progressive, or None when the config has none (or `stages` is empty)."""
        pc = cfg.get("progressive")
        if pc is None or not len(pc.stages):
            return None
        stages, steps = tuple(pc.stages), tuple(pc.steps)
        num_phases = int(dict(cfg.model.kwargs).get("num_phases", 9))
        if cfg.task.kind != "cs":
            raise ValueError(f"progressive.stages: progressive training is for unfolded CS networks (task.kind "
                             f"'cs'), got task.kind {cfg.task.kind!r}")
        if not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= num_phases for n in stages) \
                or list(stages) != sorted(stages) or stages[-1] != num_phases:
            raise ValueError(f"progressive.stages: expected non-decreasing phase counts in 1 .. {num_phases} ending "
                             f"with model.kwargs.num_phases ({num_phases}), such as [3, 6, {num_phases}], got {stages}")
        if len(steps) != len(stages) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                                                for n in steps):
            raise ValueError(f"progressive.steps: expected {len(stages)} update counts >= 1 (one per stage), "
                             f"got {steps}")
        if pc.earlier not in EARLIER:
            raise ValueError(f"progressive.earlier: expected one of {list(EARLIER)}, got {pc.earlier!r}")
        if cfg.optim.name != "adam" or cfg.optim.clip_grad_norm:
            raise ValueError(f"optim.name: progressive training supports 'adam' without clip_grad_norm, got "
                             f"{cfg.optim.name!r} with clip_grad_norm {cfg.optim.clip_grad_norm}")
        return cls(stages, steps, str(pc.earlier))

    @property
    def boundaries(self) -> tuple:
        """The first update of stages 1, 2, ... (stage 0 starts at update 0)."""
        return tuple(int(b) for b in np.cumsum(self.steps)[:-1])

    def stage_of(self, update):
        """The stage of update number `update` (0-based; a Python int or a traced integer array)."""
        if isinstance(update, (int, np.integer)):
            return sum(int(update) >= b for b in self.boundaries)
        import jax.numpy as jnp
        if not self.boundaries:
            return jnp.zeros((), jnp.int32)
        return jnp.sum(update >= jnp.asarray(self.boundaries, jnp.int32)).astype(jnp.int32)

    def trains(self, stage: int, phase: int) -> bool:
        """Whether phase `phase` (0-based) is updated in stage `stage`."""
        n = self.stages[stage]
        before = self.stages[stage - 1] if stage else 0
        if phase >= n:
            return False  # not run yet
        return self.earlier == "finetune" or before == n or phase >= before

    def table(self) -> np.ndarray:
        """[stages, phases] bool: trains(stage, phase)."""
        return np.array([[self.trains(s, p) for p in range(self.stages[-1])] for s in range(len(self.stages))])

    # ---- JAX ----
    def optax(self, cfg_optim, schedule):
        """Adam per phase, masked by stage (see the module docstring), then the run's learning-rate schedule."""
        import jax
        import jax.numpy as jnp
        import optax

        table = jnp.asarray(self.table())

        def adam_for(phase):
            inner = optax.scale_by_adam(b1=cfg_optim.b1, b2=cfg_optim.b2, eps=cfg_optim.eps)
            if phase is None:
                return inner
            return optax.transforms.conditionally_mask(inner, lambda count: table[self.stage_of(count), phase])

        def labels(params):
            def label(path, _):
                phase = phase_of(path)
                return "shared" if phase is None else f"phase{phase}"
            return jax.tree_util.tree_map_with_path(label, params)

        transforms = {f"phase{i}": adam_for(i) for i in range(self.stages[-1])}
        transforms["shared"] = adam_for(None)
        return optax.chain(optax.multi_transform(transforms, labels), optax.scale_by_learning_rate(schedule))

    # ---- PyTorch ----
    def torch_freeze(self, module, stage: int) -> None:
        """Sets .grad to None on the parameters of the phases that stage `stage` does not train (call it after
        backward, before optimizer.step: torch.optim.Adam then skips them, moments and step count included)."""
        for name, p in module.named_parameters():
            phase = phase_of(name)
            if phase is not None and not self.trains(stage, phase):
                p.grad = None
