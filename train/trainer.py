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
  so a restarted run continues with the same batches. Guarantees (train/integrity.py):
  - every checkpoint carries a SHA-256 of its files, written once orbax has finalised it; on restart the
    newest checkpoint that matches its checksum and whose every value is finite is restored; one that
    fails is named in one line on stderr, moved to WORKDIR/checkpoints_rejected/ (kept, never loaded)
    and the previous one is used. Rotation never deletes the newest verified checkpoint. A workdir
    whose checkpoints all predate checksums is loaded with a one-line warning (orbax renames a step
    into place only once it is complete, so such a step is whole; its values are still checked finite).
  - a step whose loss, gradients or new state are not finite is not applied (the jitted step returns the
    old state), so no checkpoint ever holds a non-finite value; the run stops with one line naming the
    newest checkpoint (the initial state, saved as step 0, when none was written yet), and a rerun with a
    sane `optim.lr` resumes from it. A checkpoint written while the run was already diverging has finite
    but possibly useless weights; move it out of WORKDIR/checkpoints to resume from an older one.
  - one trainer per workdir (WORKDIR/.lock: pid and host; a dead holder's lock is taken over).
  - SIGTERM and Ctrl-C (SIGINT) save the current step and stop (`jrestore train` exits 0 after SIGTERM,
    130 after SIGINT, as shells expect); metrics.jsonl rows after the resumed step (all rows when no
    checkpoint exists) are dropped on restart, so no step is logged twice.
- Observability: tqdm bar, WORKDIR/metrics.jsonl, TensorBoard events in WORKDIR/tb, sample grids in
  WORKDIR/samples, WORKDIR/curves.png at the end.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from train import integrity, reporting
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
    """A step's loss, gradients or new state were NaN or infinite: it was not applied and the run stopped;
    the message names the newest checkpoint (every value finite) to resume from."""


def prepare_workdir(workdir) -> Path:
    """The workdir, created if missing; a path that is a file or cannot be created is one ValueError."""
    path = Path(workdir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--workdir: {path} is a file; expected a directory (existing or to be created)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--workdir: cannot create {path}: {err.strerror or err}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--workdir: {path} is not writable")
    return path


def initial_torch_state(cfg) -> dict:
    """The initial weights as a torch state dict: torch_ref's own init under cfg.init.seed (so a run from
    scratch starts from PyTorch's distribution), or a weights file (which needs no torch when it is
    .safetensors or .mat)."""
    if cfg.init.weights:
        from jrestore.convert.checkpoints import load_state_dict_file
        return load_state_dict_file(cfg.init.weights, what="init.weights")
    import torch
    import torch_ref.models as tmodels

    torch.manual_seed(int(cfg.init.seed))
    return tmodels.get(cfg.model.name, **model_kwargs(cfg)).state_dict()


def _torch_installed() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class Trainer:
    def __init__(self, cfg, workdir, *, initial_state: dict | None = None, progress: bool = True):
        import jax
        from flax import nnx
        import jrestore.models as jmodels
        from jrestore.convert import load_torch_state_dict

        check_loss(cfg)
        self.cfg, self.workdir, self.progress = cfg, prepare_workdir(workdir), progress
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
        if initial_state is None and not cfg.init.weights and not _torch_installed():
            # torch is the optional `torch` extra: without it a run from scratch keeps jrestore's own init
            # (the same PyTorch-default distributions, drawn from nnx.Rngs(init.seed), not torch's generator)
            self.model = jmodels.get(cfg.model.name, rngs=nnx.Rngs(int(cfg.init.seed)), **self.kwargs)
        else:
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
            step = jax.jit(self._guarded(lambda s, b, f: jax_gan_step(self, s, b, f)), out_shardings=(repl, repl),
                           donate_argnums=(0,))
        else:
            step = jax.jit(self._guarded(self._train_step), out_shardings=(repl, repl), donate_argnums=(0,))
        self.jitted_step = step  # (state, batch, frozen) -> (state, metrics); the benchmark AOT-compiles it
        self._step_fn = lambda state, batch: step(state, batch, self._frozen)
        self.step = 0
        self.stopped_by = None  # "SIGTERM" or "SIGINT" when a signal ended run()
        self._saved_step = None  # the step of the latest save started
        self._verified_step = None  # the newest checkpoint whose checksum is written (never rotated away)
        self._initial = None  # (state, data state) on the host while no checkpoint is verified (run())

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
    def _guarded(step):
        """step, except that when the loss, a metric (the gradient norm: finite iff every gradient is) or any
        leaf of the new state is not finite, the OLD state is returned, so nothing non-finite is ever applied
        or checkpointed; metrics["finite"] says which happened (one scalar for the host to fetch)."""
        def guarded(state, batch, frozen):
            import jax
            import jax.numpy as jnp
            new, metrics = step(state, batch, frozen)
            leaves = [jnp.asarray(x) for x in jax.tree.leaves((metrics, new))]  # a constant lr is a Python float
            checks = [jnp.all(jnp.isfinite(x)) for x in leaves if jnp.issubdtype(x.dtype, jnp.inexact)]
            finite = jnp.all(jnp.stack(checks))
            new = {k: jax.tree.map(lambda n, o: jnp.where(finite, n, o), v, state[k]) for k, v in new.items()}
            return new, {**metrics, "finite": finite}
        return guarded

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
    @property
    def ckpt_dir(self) -> Path:
        return (self.workdir / "checkpoints").absolute()

    def _manager(self):
        import orbax.checkpoint as ocp
        from orbax.checkpoint import checkpoint_managers as cm

        policy = cm.AnyPreservationPolicy([
            cm.LatestN(n=int(self.cfg.train.keep)),
            cm.BestN(get_metric_fn=lambda m: m["val_psnr"], n=1, keep_checkpoints_without_metrics=False),
            _KeepStep(lambda: self._verified_step)])
        options = ocp.CheckpointManagerOptions(preservation_policy=policy, enable_async_checkpointing=True)
        return ocp.CheckpointManager(self.ckpt_dir, options=options)

    def _save(self, mngr, iterator, metrics=None, wait=False):
        import orbax.checkpoint as ocp
        if self._saved_step == self.step:  # e.g. SIGTERM right after a checkpoint step: already saved
            if wait:
                self._checksum_pending(mngr, block=True)
            return
        self._checksum_pending(mngr, block=True)  # the previous save's (orbax's save waits for it anyway)
        data_state = iterator.get_state()
        if isinstance(data_state, bytes):
            data_state = {"bytes": data_state.decode("latin-1")}
        self._saved_step = self.step
        mngr.save(self.step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(self.state), data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave({"step": self.step, "recipe": self.cfg.recipe})), metrics=metrics, force=True)
        if wait:
            self._checksum_pending(mngr, block=True)

    def _checksum_pending(self, mngr, block: bool) -> None:
        """Writes the checksum of the latest save once orbax has finalised it: block=True waits for it (as
        orbax's next save would anyway); block=False (after every step) only looks, so the window in which
        a finalised checkpoint has no checksum yet is about one step."""
        import jax
        step = self._saved_step
        if step is None or step == self._verified_step:
            return
        if block:
            mngr.wait_until_finished()
        elif mngr.is_saving_in_progress():
            return
        if not (self.ckpt_dir / str(step)).is_dir():  # the save failed; orbax reports it
            return
        if jax.process_index() == 0:
            integrity.write_checksum(self.ckpt_dir / str(step))
        self._verified_step = step
        self._initial = None  # a verified checkpoint exists: the initial state's host copy is not needed

    def _restore(self, mngr, iterator) -> bool:
        """Restores the newest checkpoint that matches its checksum and holds only finite values; those
        newer that fail are named (one line each) and moved to WORKDIR/checkpoints_rejected."""
        import jax
        import orbax.checkpoint as ocp

        root = self.ckpt_dir
        steps = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit() and p.is_dir()), reverse=True) \
            if root.is_dir() else []
        legacy = bool(steps) and not any(integrity.has_checksum(root / str(s)) for s in steps)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, self.state)
        rejected, got, chosen = [], None, None
        for step in steps:
            problem = None if legacy else integrity.verify(root / str(step))
            if problem:
                rejected.append((step, problem))
                continue
            try:
                got = mngr.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore(),
                    meta=ocp.args.JsonRestore()))
            except Exception as err:  # noqa: BLE001 -- the checksum matched: the config does not fit it
                first = (str(err).strip().splitlines() or [""])[0][:200]
                why = "it has no checksum, so it may be damaged, or " if legacy else ""
                raise ValueError(f"checkpoint step {step} in {root} cannot be restored into this config "
                                 f"({type(err).__name__}: {first}); {why}rerun with the config it was written "
                                 "with, or use another --workdir") from None
            if not all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(jax.device_get(got["state"]))
                       if np.issubdtype(np.asarray(x).dtype, np.inexact)):
                rejected.append((step, "it holds NaN or infinite values"))
                got = None
                continue
            chosen = step
            break
        using = f"using step {chosen}" if chosen is not None else "no verified checkpoint left, starting from step 0"
        aside = self.workdir.absolute() / "checkpoints_rejected"
        if rejected and jax.process_count() > 1:  # every process has decided before any directory moves
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices("jrestore_rejected_checkpoints_decided")
        for step, problem in rejected:
            dest = aside / str(step)
            n = 1
            while dest.exists():
                dest, n = aside / f"{step}.{n}", n + 1
            if jax.process_index() == 0:
                aside.mkdir(exist_ok=True)
                (root / str(step)).rename(dest)
                print(f"checkpoint step {step} in {root} failed verification ({problem}); moved to {dest}; {using}",
                      file=sys.stderr)
        if rejected:
            if jax.process_count() > 1:
                from jax.experimental import multihost_utils
                multihost_utils.sync_global_devices("jrestore_rejected_checkpoints_moved")
            mngr.reload()
        if got is None:
            return False
        if legacy:
            print(f"warning: checkpoint step {chosen} in {root} has no checksum (written by a jrestore before "
                  "checkpoint checksums); loaded it unverified (every value is finite) and wrote its checksum",
                  file=sys.stderr)
            if jax.process_index() == 0:
                integrity.write_checksum(root / str(chosen))
        self._verified_step = self._saved_step = chosen
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
        """Trains to cfg.train.steps (resuming from the workdir's newest verified checkpoint); returns the last
        logged metrics. self.stopped_by says whether SIGTERM / SIGINT ended it early."""
        import jax
        lock = integrity.WorkdirLock(self.workdir, jax.process_index())
        lock.acquire()
        signals = (signal.SIGTERM, signal.SIGINT)
        main = threading.current_thread() is threading.main_thread()  # signal handlers: main thread only
        previous = {sig: signal.signal(sig, self._on_signal) for sig in signals} if main else {}
        self.stopped_by = None
        try:
            return self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.release()

    def _run(self) -> dict:
        import jax
        from tqdm import tqdm

        cfg = self.cfg
        total = int(cfg.train.steps)
        iterator = self._iterator()
        mngr = self._manager()
        try:
            resumed = self._restore(mngr, iterator)
        except BaseException:
            mngr.close()
            raise
        # a host copy of the initial state (and data position) until the first checkpoint is verified: if the
        # very first updates diverge, it is what gets checkpointed and named (the state they left is not)
        self._initial = None if resumed else (jax.device_get(self.state), iterator.get_state())
        # rows after the restored step (every row when starting from 0) belong to the part being redone
        log = reporting.MetricsLog(self.workdir, truncate_after=self.step)
        bar = tqdm(total=total, initial=self.step, desc=cfg.recipe or cfg.model.name, unit="step",
                   disable=None if self.progress else True)
        last = {}
        tick, ticks = time.perf_counter(), 0
        try:
            while self.step < total:
                batch = self._device_batch(next(iterator))
                self.state, metrics = self._step_fn(self.state, batch)
                loss, finite = jax.device_get((metrics["loss"], metrics["finite"]))  # the one sync per step
                loss = float(loss)
                if not finite:
                    self._stop_non_finite(mngr, iterator, loss, float(metrics["grad_norm"]))
                self.step += 1
                ticks += 1
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
                self._checksum_pending(mngr, block=False)
                if self.stopped_by:
                    self._save(mngr, iterator, wait=True)
                    bar.write(f"{self.stopped_by}: saved step {self.step} to {self.ckpt_dir}; stopping")
                    break
        finally:
            bar.close()
            try:
                self._checksum_pending(mngr, block=True)
            finally:
                mngr.close()
                log.close()
        if self.step >= total and jax.process_index() == 0:
            reporting.plot_curves(self.workdir)
        return last

    def _stop_non_finite(self, mngr, iterator, loss: float, grad_norm: float):
        """The step just computed was not applied (see _guarded). The newest checkpoint written on schedule
        is named (its values are all finite: nothing non-finite is ever applied); the state right before
        the failing step is not saved, as the updates that led there may already have wrecked the weights.
        Without any checkpoint yet, the initial state is saved as step 0 and named. Raises NonFiniteLoss."""
        import jax
        failing = self.step + 1
        self._checksum_pending(mngr, block=True)
        if self._verified_step is None and self._initial is not None:
            state, data_state = self._initial
            self.state = jax.device_put(state, jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec()))
            iterator.set_state(data_state)
            self.step = 0
            self._save(mngr, iterator, wait=True)
        raise NonFiniteLoss(
            f"step {failing}: the loss, gradients or updated state are not finite (loss {loss:.4g}, "
            f"gradient norm {grad_norm:.4g}); the update was not applied and training stopped. Checkpoint with "
            f"every value finite: {self.ckpt_dir / str(self._verified_step)} (step {self._verified_step}); "
            f"rerun on this --workdir with a lower optim.lr (now {self.cfg.optim.lr:g}) to resume from it")

    def _on_signal(self, signum, frame):
        name = signal.Signals(signum).name
        if self.stopped_by == name == "SIGINT":  # a second Ctrl-C: stop now, without the final save
            raise KeyboardInterrupt
        self.stopped_by = name

    def params_torch_layout(self) -> dict:
        """The current parameters and buffers as a PyTorch-layout state dict (NumPy)."""
        from flax import nnx
        from jrestore.convert import torch_state_dict
        model = nnx.clone(self.model)
        nnx.update(model, *self._states(self._abstract, jax_get(self.state["params"]), jax_get(self.state["rest"])))
        return torch_state_dict(model)


class _KeepStep:
    """orbax preservation policy: never delete the step `get_step()` returns (the newest verified one), so
    that a newer checkpoint still being written or found damaged later always has a good one behind it."""

    def __init__(self, get_step):
        self.get_step = get_step

    def should_preserve(self, checkpoints, *, context):
        keep = self.get_step()
        return [info.step == keep for info in checkpoints]


def jax_get(tree):
    import jax
    return jax.tree.map(np.asarray, jax.device_get(tree))

