"""The trainer's parts alone: the pure step without the Trainer, the optimizer step count read from the
optax state's structure, the checkpoint store, and the loop's device -> host transfers (log steps only)."""
from __future__ import annotations

import numpy as np
import pytest

from jrestore.parity import tolerances
from train.config import load_config

SMALL = ["model.kwargs.nc=8", "model.kwargs.nb=3", "val.source=''"]


@pytest.mark.parametrize("overrides", [[], ["optim.name='adamw'", "optim.clip_grad_norm=0.5",
                                            "schedule.name='cosine'", "schedule.warmup_steps=2"]])
def test_step_count_is_the_schedule_states_count(overrides):
    """A parameter named `count` (whose Adam moments' paths then contain 'count') does not confuse it."""
    import jax.numpy as jnp
    from train.optim import make_optax
    from train.step import step_count

    tx, _ = make_optax(load_config("dncnn_s25:runlocal", overrides), 10)
    params = {"count": jnp.ones(3), "w": jnp.zeros(2)}
    state = tx.init(params)
    for n in range(4):
        assert int(step_count(state)) == n
        _, state = tx.update({"count": jnp.ones(3), "w": jnp.ones(2)}, state, params)
    with pytest.raises(ValueError, match=r"opt_state: expected one optax.ScaleByScheduleState .* got 0"):
        step_count({"mu": {"count": jnp.zeros(())}})


def test_pure_step_without_the_trainer_matches_torch():
    """create_train_state + make_train_step + jax.jit, no mesh, loop or workdir: two updates equal the torch
    twin's losses and, after them, its weights."""
    import jax
    from train.objective import Objective
    from train.state import create_train_state, initial_torch_state
    from train.step import guarded, make_train_step
    from train.torch_trainer import TorchTrainer

    cfg = load_config("dncnn_s25:runlocal", SMALL + ["model.kwargs.act_mode='R'", "optim.lr=1e-3"])
    init = initial_torch_state(cfg)
    setup = create_train_state(cfg, init)
    step = jax.jit(guarded(make_train_step(Objective(cfg), setup)))
    twin = TorchTrainer(cfg, init)
    rng = np.random.default_rng(0)
    state = setup.state
    for _ in range(2):
        clean = rng.random((4, 16, 16, 1), dtype=np.float32)
        batch = {"input": clean + rng.normal(0, 0.1, clean.shape).astype(np.float32), "target": clean}
        state, metrics = step(state, batch, None)
        assert bool(metrics["finite"])
        np.testing.assert_allclose(float(metrics["loss"]), twin.step(batch)["loss"], rtol=tolerances.TRAIN_LOSS)
    model = setup.generator.merge(jax.device_get(state["params"]), jax.device_get(state["rest"]))
    from jrestore.convert import torch_state_dict
    got, want = torch_state_dict(model), twin.state_dict()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=tolerances.TRAIN_WEIGHTS, err_msg=key)


def test_pending_steps_name_the_first_non_finite_step():
    import jax.numpy as jnp
    from train.trainer import PendingSteps

    pending = PendingSteps()
    for step, (loss, finite) in enumerate([(0.5, True), (np.inf, False), (np.nan, False), (0.4, True)], start=11):
        pending.add(step, {"loss": jnp.float32(loss), "grad_norm": jnp.float32(step), "finite": jnp.bool_(finite),
                           "lr": jnp.float32(1e-3)})
    host, first_bad = pending.fetch()
    assert first_bad == (12, np.inf, 12.0)
    assert host == {"loss": pytest.approx(0.4), "grad_norm": 14.0, "finite": 1.0, "lr": pytest.approx(1e-3)}
    assert pending.steps == []


def test_the_loop_fetches_metrics_only_at_log_and_checkpoint_steps(tmp_path, monkeypatch):
    """10 steps, logs every 4, checkpoints every 5: fetched at steps 4, 5, 8 and 10, each time covering every
    step since the previous fetch."""
    from train.trainer import PendingSteps, Trainer

    fetched = []
    original = PendingSteps.fetch

    def counting_fetch(self):
        fetched.append([step for step, _ in self.steps])
        return original(self)

    monkeypatch.setattr(PendingSteps, "fetch", counting_fetch)
    cfg = load_config("dncnn_s25:runlocal", SMALL + ["train.steps=10", "train.log_every=4", "train.ckpt_every=5"])
    last = Trainer(cfg, tmp_path, progress=False).run()
    assert fetched == [[1, 2, 3, 4], [5], [6, 7, 8], [9, 10]]
    assert last["step"] == 10 and np.isfinite(last["loss"])


def test_checkpoint_store_restores_the_newest_verified_step(tmp_path, capfd):
    import jax.numpy as jnp
    from train import integrity
    from train.checkpoint import CheckpointStore

    states = {s: {"w": jnp.full((3,), float(s)), "n": jnp.int32(s)} for s in (1, 2)}
    store = CheckpointStore(tmp_path, keep=5)
    for s, state in states.items():
        store.save(s, state, {"position": s}, "recipe", wait=True)
    store.close()
    assert all(integrity.verify(tmp_path / "checkpoints" / str(s)) is None for s in (1, 2))
    (tmp_path / "checkpoints" / "2" / integrity.CHECKSUM_FILE).write_text("0" * 64 + " 1\n")
    capfd.readouterr()
    store = CheckpointStore(tmp_path, keep=5)
    step, state, data = store.restore({"w": jnp.zeros(3), "n": jnp.int32(0)})
    store.close()
    assert (step, data, float(state["w"][0]), int(state["n"])) == (1, {"position": 1}, 1.0, 1)
    assert "checkpoint step 2 in " in capfd.readouterr().err
    assert (tmp_path / "checkpoints_rejected" / "2").is_dir()
