"""The pure train step: (state, batch, frozen) -> (new state, metrics), with no Python state of its own, so
it is jitted once (train/trainer.py) and testable alone.

    step = guarded(make_train_step(objective, setup, ema_decay))   # setup: train.state.TrainSetup
    state, metrics = jax.jit(step)(setup.state, batch, setup.frozen())

metrics: {"loss", "grad_norm", "lr"[, "l_g_gan", "l_d"], "finite"}, device scalars; nothing leaves the device
here (the loop fetches them at its log steps).
"""
from __future__ import annotations

__all__ = ["make_train_step", "guarded", "step_count", "ema_update", "frozen_module", "frozen_teacher"]


def step_count(opt_state):
    """Updates applied so far: the `count` of the optax schedule state (optax.ScaleByScheduleState, the
    learning-rate schedule's own counter), found by type in the optimiser state's structure."""
    import jax
    import optax

    def is_schedule(node):
        return isinstance(node, optax.ScaleByScheduleState)

    found = [node for node in jax.tree.leaves(opt_state, is_leaf=is_schedule) if is_schedule(node)]
    if len(found) != 1:
        raise ValueError(f"opt_state: expected one optax.ScaleByScheduleState (train.optim builds the learning "
                         f"rate as a schedule), got {len(found)}")
    return found[0].count


def ema_update(ema, params, decay: float):
    """BasicSR's net_g_ema: decay * ema + (1 - decay) * params, leaf by leaf."""
    import jax
    return jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, ema, params)


def frozen_module(setup, frozen):
    """The frozen perceptual network merged from its state (frozen["perceptual"], a step argument), or None."""
    if not frozen or "perceptual" not in frozen:
        return None
    from flax import nnx
    return nnx.merge(setup.perceptual_def, frozen["perceptual"])


def frozen_teacher(setup, frozen):
    """The distillation teacher as a function () -> the NNX module (eval mode) merged from frozen["teacher"]
    under stop_gradient, or None. A function: NNX modules may only be called at the trace level they were
    merged at, so the loss merges it inside its own (differentiated) trace."""
    if not frozen or "teacher" not in frozen:
        return None
    import jax
    from flax import nnx
    return lambda: nnx.merge(setup.teacher_def, jax.lax.stop_gradient(frozen["teacher"]))


def make_train_step(objective, setup, ema_decay: float = 0.0):
    """The step of a single network: objective.jax_loss, its gradient, one optax update (+ the EMA)."""
    import jax
    import optax

    def step(state, batch, frozen):
        perceptual, teacher = frozen_module(setup, frozen), frozen_teacher(setup, frozen)

        def loss_fn(params):
            # a progressive schedule's stage follows the update count (train/progressive.py)
            stage = {} if objective.progressive is None else {"update": step_count(state["opt_state"])}
            return objective.jax_loss(setup.generator, params, state["rest"], batch, perceptual, teacher, **stage)

        (loss, rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        updates, opt_state = setup.tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new = {"params": params, "rest": rest, "opt_state": opt_state}
        if "ema" in state:
            new["ema"] = ema_update(state["ema"], params, ema_decay)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads),
                   "lr": setup.schedule(step_count(state["opt_state"]))}
        return new, metrics

    return step


def guarded(step):
    """step, except that when the loss, a metric (the gradient norm: finite iff every gradient is) or any
    leaf of the new state is not finite, the OLD state is returned, so nothing non-finite is ever applied
    or checkpointed; metrics["finite"] says which happened (one scalar for the host to fetch)."""
    def guarded_step(state, batch, frozen):
        import jax
        import jax.numpy as jnp
        new, metrics = step(state, batch, frozen)
        leaves = [jnp.asarray(x) for x in jax.tree.leaves((metrics, new))]  # a constant lr is a Python float
        checks = [jnp.all(jnp.isfinite(x)) for x in leaves if jnp.issubdtype(x.dtype, jnp.inexact)]
        finite = jnp.all(jnp.stack(checks))
        new = {k: jax.tree.map(lambda n, o: jnp.where(finite, n, o), v, state[k]) for k, v in new.items()}
        return new, {**metrics, "finite": finite}
    return guarded_step
