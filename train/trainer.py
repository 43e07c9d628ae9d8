"""The JAX trainer: data-parallel `jax.jit` over a device mesh, optax, orbax checkpoints, resumable.

    from train.config import load_config
    from train.trainer import Trainer
    Trainer(load_config("dncnn_s25:runlocal"), "/tmp/run").run()

- State: (params, rest, opt_state[, ema]) as pure pytrees; the train step is one jitted pure function of
  them and a batch (no per-call NNX graph traversal). `rest` holds BatchNorm statistics and other
  non-trained variables, returned updated by the step.
- Parallelism: a 1-D mesh ('data',) over every device of every process (or the first `train.devices`);
  the global batch is sharded on 'data', the state replicated; XLA inserts the gradient all-reduce. Each
  process feeds its own rows of every global batch (`jax.make_array_from_process_local_data`).
  Multi-host: call `jax.distributed.initialize()` before building the Trainer (`jrestore train` does
  when JAX_COORDINATOR_ADDRESS / --coordinator is given).
- Checkpoints (orbax CheckpointManager, async): every ckpt_every steps and at validation, the latest
  `keep` plus the best by validation PSNR; each holds the state, the data iterator's state and the step,
  so a restarted run continues with the same batches. SIGTERM saves and stops cleanly; a non-finite loss
  stops with a message naming the last good checkpoint, which is left intact.
- Observability: tqdm bar, WORKDIR/metrics.jsonl, TensorBoard events in WORKDIR/tb, sample grids in
  WORKDIR/samples, WORKDIR/curves.png at the end.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np

from train import reporting
from train.objective import build_perceptual, check_loss, jax_loss
from train.optim import make_optax

__all__ = ["Trainer", "NonFiniteLoss", "initial_torch_state", "model_kwargs"]

# `task.cs_matrices` aliases under the reference-data folder
CS_MATRIX_ALIASES = {"set11_matrices": "cs/ista_net/sampling_matrix"}


def model_kwargs(cfg) -> dict:
    """cfg.model.kwargs plus what the task adds: the CS sampling matrices Phi and Qinit (official .mat files)."""
    kwargs = dict(cfg.model.kwargs)
    if cfg.task.kind == "cs" and cfg.task.get("cs_matrices"):
        from jrestore.data.cs_matrices import load_cs_matrices
        folder = cfg.task.cs_matrices
        if folder in CS_MATRIX_ALIASES:
            from jrestore.data.paths import data_dir
            folder = data_dir(required=True) / CS_MATRIX_ALIASES[folder]
        kwargs["phi"], kwargs["qinit"] = load_cs_matrices(folder, kwargs.get("cs_ratio", 25))
    return kwargs


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or infinite: the run stopped, the last good checkpoint is kept."""


def initial_torch_state(cfg) -> dict:
    """The initial weights as a torch state dict: torch_ref's own init under cfg.init.seed (so a run from
    scratch starts from PyTorch's distribution), or a weights file."""
    import torch
    import torch_ref.models as tmodels

    if cfg.init.weights:
        from jrestore.convert.checkpoints import load_state_dict_file
        return load_state_dict_file(cfg.init.weights, what="init.weights")
    torch.manual_seed(int(cfg.init.seed))
    return tmodels.get(cfg.model.name, **model_kwargs(cfg)).state_dict()


class Trainer:
    def __init__(self, cfg, workdir, *, initial_state: dict | None = None, progress: bool = True):
        import jax
        from flax import nnx
        import jrestore.models as jmodels
        from jrestore.convert import load_torch_state_dict

        check_loss(cfg)
        self.cfg, self.workdir, self.progress = cfg, Path(workdir), progress
        self.workdir.mkdir(parents=True, exist_ok=True)
        devices = jax.devices()
        if cfg.train.devices:
            if cfg.train.devices > len(devices):
                raise ValueError(f"train.devices: {cfg.train.devices} requested, {len(devices)} available")
            devices = devices[:cfg.train.devices]
        gbs = int(cfg.train.global_batch_size)
        if gbs % len(devices) or gbs % jax.process_count():
            raise ValueError(f"train.global_batch_size: {gbs} must be a multiple of the {len(devices)} devices "
                             f"and {jax.process_count()} processes")
        self.mesh = jax.sharding.Mesh(np.asarray(devices), ("data",))
        self.kwargs = model_kwargs(cfg)
        self.model = jmodels.get(cfg.model.name, **self.kwargs)
        state = initial_state if initial_state is not None else initial_torch_state(cfg)
        load_torch_state_dict(self.model, state, source="initial weights")
        self.model.train()
        self.graphdef, params, rest = nnx.split(self.model, nnx.Param, ...)
        self.tx, self.schedule = make_optax(cfg, int(cfg.train.steps))
        repl = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        self.batch_sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("data"))
        state = {"params": nnx.to_pure_dict(params), "rest": nnx.to_pure_dict(rest)}
        state["opt_state"] = self.tx.init(state["params"])
        if cfg.gan.weight:  # SRGAN: the discriminator, its optimiser and state (train/gan.py)
            from train.gan import d_config, initial_discriminator_state
            d_model = jmodels.get(cfg.gan.discriminator.name, **dict(cfg.gan.discriminator.kwargs))
            load_torch_state_dict(d_model, initial_discriminator_state(cfg), source="initial discriminator")
            d_model.train()
            self._d_graphdef, d_params, d_rest = nnx.split(d_model, nnx.Param, ...)
            self._abstract_d = (d_params, d_rest)
            self.d_tx = make_optax(d_config(cfg), int(cfg.train.steps))[0]
            state["d_params"], state["d_rest"] = nnx.to_pure_dict(d_params), nnx.to_pure_dict(d_rest)
            state["d_opt_state"] = self.d_tx.init(state["d_params"])
        if cfg.optim.ema_decay:
            state["ema"] = jax.tree.map(np.array, state["params"])  # own buffers: the step donates both
        self.state = jax.device_put(state, repl)
        self._abstract = (params, rest)
        # frozen networks of the loss (the perceptual VGG): an argument of the step, not baked-in constants
        perceptual = build_perceptual(cfg)[0]
        self._frozen_def = nnx.graphdef(perceptual) if perceptual is not None else None
        self._frozen = jax.device_put(nnx.state(perceptual), repl) if perceptual is not None else None
        if cfg.gan.weight:
            from train.gan import jax_gan_step
            step = jax.jit(lambda s, b, f: jax_gan_step(self, s, b, f), out_shardings=(repl, repl), donate_argnums=(0,))
        else:
            step = jax.jit(self._train_step, out_shardings=(repl, repl), donate_argnums=(0,))
        self.jitted_step = step  # (state, batch, frozen) -> (state, metrics); the benchmark AOT-compiles it
        self._step_fn = lambda state, batch: step(state, batch, self._frozen)
        self.step = 0
        self._stop_requested = False

    # ---- the pure step ----
    @staticmethod
    def _states(abstract, params, rest):
        """(params, rest) as nnx.State objects shaped like `abstract`, holding the given pure dicts."""
        from flax import nnx
        p, r = nnx.clone(abstract[0]), nnx.clone(abstract[1])
        nnx.replace_by_pure_dict(p, params)
        nnx.replace_by_pure_dict(r, rest)
        return p, r

    def _merge(self, params, rest):
        from flax import nnx
        return nnx.merge(self.graphdef, *self._states(self._abstract, params, rest), copy=True)

    def _merge_d(self, params, rest):
        from flax import nnx
        return nnx.merge(self._d_graphdef, *self._states(self._abstract_d, params, rest), copy=True)

    def _train_step(self, state, batch, frozen):
        import jax
        import jax.numpy as jnp
        import optax
        from flax import nnx

        cfg = self.cfg
        compute = jnp.bfloat16 if cfg.train.compute_dtype == "bfloat16" else jnp.float32

        def loss_fn(params):
            cast = jax.tree.map(lambda a: a.astype(compute) if jnp.issubdtype(a.dtype, jnp.floating) else a, params)
            model = self._merge(cast, state["rest"])
            b = {k: (v.astype(compute) if k != "target" else v) for k, v in batch.items()}
            perceptual = nnx.merge(self._frozen_def, frozen) if frozen is not None else None
            loss = jax_loss(cfg, model, b, perceptual).astype(jnp.float32)
            _, _, rest = nnx.split(model, nnx.Param, ...)
            rest = jax.tree.map(lambda new, old: new.astype(old.dtype), nnx.to_pure_dict(rest), state["rest"])
            return loss, rest

        (loss, rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new = {"params": params, "rest": rest, "opt_state": opt_state}
        if "ema" in state:
            d = float(cfg.optim.ema_decay)
            new["ema"] = jax.tree.map(lambda e, p: d * e + (1 - d) * p, state["ema"], params)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads), "lr": self.schedule(self.step_count(state))}
        return new, metrics

    @staticmethod
    def step_count(state):
        """Updates applied so far, read from the optax state (the schedule's own counter)."""
        import jax
        counts = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(state["opt_state"])
                  if "count" in jax.tree_util.keystr(path)]
        return counts[-1]

    # ---- data ----
    def _iterator(self):
        import jax
        from train.data import make_train_iterator
        return make_train_iterator(self.cfg.data, task=self.cfg.task, global_batch_size=int(self.cfg.train.global_batch_size),
                                   seed=int(self.cfg.train.seed), process_index=jax.process_index(),
                                   process_count=jax.process_count())

    def _device_batch(self, local: dict):
        import jax
        batch = {k: jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(v)) for k, v in local.items()}
        if self.cfg.model.name == "ffdnet":  # fixed-sigma training: the noise map level of every sample
            n = batch["input"].shape[0]
            sig = np.full((n // jax.process_count(), 1, 1, 1), self.cfg.task.sigma / 255.0, np.float32)
            batch["sigma"] = jax.make_array_from_process_local_data(self.batch_sharding, sig)
        return batch

    # ---- checkpoints ----
    def _manager(self):
        import orbax.checkpoint as ocp
        from orbax.checkpoint import checkpoint_managers as cm

        policy = cm.AnyPreservationPolicy([
            cm.LatestN(n=int(self.cfg.train.keep)),
            cm.BestN(get_metric_fn=lambda m: m["val_psnr"], n=1, keep_checkpoints_without_metrics=False)])
        options = ocp.CheckpointManagerOptions(preservation_policy=policy, enable_async_checkpointing=True)
        return ocp.CheckpointManager((self.workdir / "checkpoints").absolute(), options=options)

    def _save(self, mngr, iterator, metrics=None, wait=False):
        import orbax.checkpoint as ocp
        data_state = iterator.get_state()
        if isinstance(data_state, bytes):
            data_state = {"bytes": data_state.decode("latin-1")}
        mngr.save(self.step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(self.state), data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave({"step": self.step, "recipe": self.cfg.recipe})), metrics=metrics, force=True)
        if wait:
            mngr.wait_until_finished()

    def _restore(self, mngr, iterator) -> bool:
        import jax
        import orbax.checkpoint as ocp
        latest = mngr.latest_step()
        if latest is None:
            return False
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, self.state)
        got = mngr.restore(latest, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore(), meta=ocp.args.JsonRestore()))
        self.state = got["state"]
        data_state = got["data"]
        if isinstance(data_state, dict) and set(data_state) == {"bytes"}:
            data_state = data_state["bytes"].encode("latin-1")
        iterator.set_state(data_state)
        self.step = int(got["meta"]["step"])
        return True

    # ---- validation ----
    def validate(self) -> dict:
        """Mean PSNR/SSIM on the validation set with the current (EMA if kept) weights."""
        from flax import nnx
        from jrestore.evaluation.evaluate import score
        from jrestore.inference.tasks import task_from_model
        from train.data import make_val_set, val_protocol

        cfg = self.cfg
        if not cfg.val.source:
            return {}
        if not hasattr(self, "_val"):
            self._val = make_val_set(cfg.val, task=cfg.task)
            self._val_protocol = val_protocol(cfg.val, cfg.task)
            self._eval_model = nnx.clone(self.model)
            self._eval_task = task_from_model(cfg.model.name, self._eval_model, self.kwargs,
                                              scale=int(cfg.task.scale or 1) if cfg.task.kind == "sr" else 1,
                                              sigma=cfg.task.sigma, upsample=cfg.task.lr_resize)
        params = self.state.get("ema", self.state["params"])
        nnx.update(self._eval_model, *self._states(self._abstract, jax_get(params), jax_get(self.state["rest"])))
        psnrs, ssims, samples = [], [], []
        for name, x, target in self._val:
            out = self._eval_task.restore(x, "jax")
            p_, s_ = score(out, target, self._val_protocol, self._eval_task.scale, "jax")
            psnrs.append(p_)
            ssims.append(s_)
            samples.append((x, out, target))
        reporting.save_sample_grid(self.workdir / "samples" / f"step_{self.step:08d}.png", samples[:4])
        return {"val_psnr": float(np.mean(psnrs)), "val_ssim": float(np.mean(ssims))}

    # ---- the loop ----
    def run(self) -> dict:
        import jax
        from tqdm import tqdm

        cfg = self.cfg
        total = int(cfg.train.steps)
        iterator = self._iterator()
        mngr = self._manager()
        resumed = self._restore(mngr, iterator)
        log = reporting.MetricsLog(self.workdir, truncate_after=self.step if resumed else 0)
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        bar = tqdm(total=total, initial=self.step, desc=cfg.recipe or cfg.model.name, unit="step",
                   disable=None if self.progress else True)
        last = {}
        tick, ticks = time.perf_counter(), 0
        try:
            while self.step < total:
                batch = self._device_batch(next(iterator))
                self.state, metrics = self._step_fn(self.state, batch)
                self.step += 1
                ticks += 1
                loss = float(metrics["loss"])
                if not np.isfinite(loss):
                    mngr.wait_until_finished()
                    good = mngr.latest_step()
                    where = f"{self.workdir / 'checkpoints' / str(good)}" if good is not None else "none saved yet"
                    raise NonFiniteLoss(f"loss is {loss} at step {self.step}; stopped. Last good checkpoint: {where}")
                bar.update()
                if self.step % cfg.train.log_every == 0 or self.step == total:
                    rate = ticks / (time.perf_counter() - tick)
                    tick, ticks = time.perf_counter(), 0
                    last = {"step": self.step, "loss": loss, "lr": float(metrics["lr"]),
                            "grad_norm": float(metrics["grad_norm"]), "steps_per_s": rate}
                    log.write(last)
                    bar.set_postfix(loss=f"{loss:.4g}", lr=f"{last['lr']:.3g}", it_s=f"{rate:.2f}")
                val = None
                if cfg.val.source and (self.step % cfg.train.val_every == 0 or self.step == total):
                    val = self.validate()
                    log.write({"step": self.step, **val})
                    last.update(val)
                if val is not None or self.step % cfg.train.ckpt_every == 0 or self.step == total:
                    self._save(mngr, iterator, metrics=val)
                if self._stop_requested:
                    self._save(mngr, iterator, wait=True)
                    bar.write(f"SIGTERM: saved step {self.step} to {self.workdir / 'checkpoints'}; stopping")
                    break
        finally:
            bar.close()
            mngr.wait_until_finished()
            mngr.close()
            log.close()
            signal.signal(signal.SIGTERM, previous)
        if self.step >= total and jax.process_index() == 0:
            reporting.plot_curves(self.workdir)
        return last

    def _on_sigterm(self, signum, frame):
        self._stop_requested = True

    def params_torch_layout(self) -> dict:
        """The current parameters and buffers as a PyTorch-layout state dict (NumPy)."""
        from flax import nnx
        from jrestore.convert import torch_state_dict
        model = nnx.clone(self.model)
        nnx.update(model, *self._states(self._abstract, jax_get(self.state["params"]), jax_get(self.state["rest"])))
        return torch_state_dict(model)


def jax_get(tree):
    import jax
    return jax.tree.map(np.asarray, jax.device_get(tree))

