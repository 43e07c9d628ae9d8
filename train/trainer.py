"""The JAX trainer: data-parallel `jax.jit` over a device mesh, optax, orbax checkpoints, resumable.

    from train.config import load_config
    from train.trainer import Trainer
    Trainer(load_config("dncnn_s25:runlocal"), "/tmp/run").run()

It is split as the Flax examples split theirs, each part testable alone:
    train/objective.py   what is minimised (loss, its arguments, the compute-dtype policy), for both frameworks
    train/state.py       state creation: the networks as (graphdef, pure dicts), optimisers, initial state
    train/step.py        the pure step (state, batch, frozen) -> (state, metrics); train/gan.py its SRGAN form
    train/checkpoint.py  checkpoints: orbax, checksums, verified restore
    train/reporting.py   metrics.jsonl, TensorBoard, sample grids, curves
    this module          the loop: data, the jitted step, when to log / validate / save, signals, divergence

- State: (params, rest, opt_state[, ema]) as pure pytrees; the train step is one jitted pure function of
  them and a batch (no per-call NNX graph traversal). `rest` holds BatchNorm statistics and other
  non-trained variables, returned updated by the step.
- Parallelism: a 1-D mesh ('data',) over every device of every process (or the first `train.devices`);
  the global batch is sharded on 'data', the state replicated; XLA inserts the gradient all-reduce. Each
  process feeds its own rows of every global batch (`jax.make_array_from_process_local_data`).
  Multi-host: call `jax.distributed.initialize()` before building the Trainer (`jrestore train
  --distributed auto|explicit` does; train/cli.py). Validation is split over the processes and gathered
  (Trainer.validate).
- Host syncs: metrics stay on the device between log steps; the loop fetches them (with every step's
  finiteness flag since the last fetch) only at log, validation and checkpoint steps and when a signal
  stops the run, so the device runs ahead of the host between them.
- Checkpoints (train/checkpoint.py): every ckpt_every steps and at validation, the latest `keep` plus the
  best by validation PSNR; each holds the state, the data iterator's state and the step, so a restarted run
  continues with the same batches. Guarantees:
  - every checkpoint carries a SHA-256 of its files, written once orbax has finalised it; on restart the
    newest checkpoint that matches its checksum and whose every value is finite is restored; one that
    fails is named in one line on stderr, moved to WORKDIR/checkpoints_rejected/ (kept, never loaded)
    and the previous one is used. Rotation never deletes the newest verified checkpoint.
  - a step whose loss, gradients or new state are not finite is not applied (the jitted step returns the
    old state), so no checkpoint ever holds a non-finite value; at the next fetch (always before anything
    is saved) the run stops with one line naming the first such step and the newest checkpoint (the initial
    state, saved as step 0, when none was written yet), and a rerun with a sane `optim.lr` resumes from it.
    A checkpoint written while the run was already diverging has finite but possibly useless weights; move
    it out of WORKDIR/checkpoints to resume from an older one.
  - one trainer per workdir (WORKDIR/.lock: pid and host; a dead holder's lock is taken over).
  - SIGTERM and Ctrl-C (SIGINT) save the current step and stop (`jrestore train` exits 0 after SIGTERM,
    130 after SIGINT, as shells expect); metrics.jsonl rows after the resumed step (all rows when no
    checkpoint exists) are dropped on restart, so no step is logged twice.
- Observability (train/reporting.py): tqdm bar, WORKDIR/metrics.jsonl, TensorBoard events in WORKDIR/tb
  (train/ and val/ scalars, sample grids, hparams), labelled sample grids in WORKDIR/samples, and
  WORKDIR/curves.png redrawn at every validation.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from train import integrity, reporting, run_files
from train.checkpoint import CheckpointStore
from train.objective import Objective
from train.state import create_train_state, initial_torch_state, model_kwargs
from train.step import guarded, make_train_step

__all__ = ["Trainer", "NonFiniteLoss", "initial_torch_state", "model_kwargs", "prepare_workdir"]


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


class PendingSteps:
    """The device-side outcome of the steps run since the host last looked: each step's `finite` flag, loss
    and gradient norm stay on the device until `fetch`, which moves them (and the last step's metrics) to
    the host in one transfer."""

    def __init__(self):
        self.steps = []  # (step number, metrics) of the steps not yet fetched

    def add(self, step: int, metrics: dict) -> None:
        self.steps.append((step, {k: metrics[k] for k in ("finite", "loss", "grad_norm")}))
        self.last = metrics

    def fetch(self):
        """(host metrics of the last step, (step, loss, grad_norm) of the first non-finite step or None)."""
        import jax
        outcome, last = jax.device_get(([m for _, m in self.steps], self.last))
        first_bad = next(((step, float(m["loss"]), float(m["grad_norm"]))
                          for (step, _), m in zip(self.steps, outcome) if not m["finite"]), None)
        self.steps = []
        return {k: float(v) for k, v in last.items()}, first_bad


class Trainer:
    def __init__(self, cfg, workdir, *, initial_state: dict | None = None, progress: bool = True,
                 allow_config_change: bool = False):
        import jax

        self.objective = Objective(cfg)
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
        self.setup = create_train_state(cfg, initial_state)
        self.model, self.kwargs = self.setup.model, self.setup.kwargs
        repl = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
        self.batch_sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("data"))
        self.state = jax.device_put(self.setup.state, repl)
        frozen = self.setup.frozen()  # the perceptual VGG, the distillation teacher: step arguments, not trained
        self.frozen = jax.device_put(frozen, repl) if frozen is not None else None
        ema_decay = float(cfg.optim.ema_decay)
        if cfg.gan.weight:
            from train.gan import make_gan_step
            step = make_gan_step(self.objective, self.setup, cfg.gan.gan_type, float(cfg.gan.weight), ema_decay)
        else:
            step = make_train_step(self.objective, self.setup, ema_decay)
        # (state, batch, frozen) -> (state, metrics), state donated; the benchmark AOT-compiles this very jit
        self.jitted_step = jax.jit(guarded(step), out_shardings=(repl, repl), donate_argnums=(0,))
        self.step = 0
        self.allow_config_change = allow_config_change
        self.stopped_by = None  # "SIGTERM" or "SIGINT" when a signal ended run()
        self._initial = None  # (state, data state) on the host while no checkpoint is verified (run())

    def train_step(self, state, batch):
        """One guarded update on a device batch (device_batch): (new state, device metrics)."""
        return self.jitted_step(state, batch, self.frozen)

    def device_batch(self, local: dict):
        """This process's rows of a global batch (NHWC NumPy) plus the model's extra inputs (FFDNet's noise
        level at task.sigma), as arrays sharded over the mesh."""
        import jax
        n = len(next(iter(local.values())))
        local = {**local, **self.objective.extras(n)}
        return {k: jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(v))
                for k, v in local.items()}

    def _iterator(self):
        import jax
        from train.data import make_train_iterator
        return make_train_iterator(self.cfg.data, task=self.cfg.task, global_batch_size=int(self.cfg.train.global_batch_size),
                                   seed=int(self.cfg.train.seed), process_index=jax.process_index(),
                                   process_count=jax.process_count())

    @property
    def ckpt_dir(self) -> Path:
        return (self.workdir / "checkpoints").absolute()

    def checkpoints(self) -> CheckpointStore:
        return CheckpointStore(self.workdir, int(self.cfg.train.keep))

    def restore(self, store: CheckpointStore, iterator) -> bool:
        """Restores the newest verified checkpoint into self.state / self.step / the iterator (see
        CheckpointStore.restore); False when there is none."""
        import jax
        import orbax.checkpoint as ocp
        got = store.restore(jax.tree.map(ocp.utils.to_shape_dtype_struct, self.state))
        if got is None:
            return False
        self.step, self.state, data_state = got
        iterator.set_state(data_state)
        return True

    def save(self, store: CheckpointStore, iterator, metrics=None, wait: bool = False) -> None:
        store.save(self.step, self.state, iterator.get_state(), self.cfg.recipe, metrics=metrics, wait=wait)

    # ---- validation ----
    def validate(self) -> dict:
        """Mean PSNR/SSIM on the validation set with the current (EMA if kept) weights, split over processes.

        Process p of P scores images p, p + P, p + 2P, ...; the per-image scores are gathered (every process
        returns the same numbers, equal to one process scoring them all: the same per-image values, averaged
        in image order). Returns val_psnr, val_ssim, val_input_psnr (the model's input against the target
        under the same protocol: the noisy image, or the LR upsampled with the task's bicubic; not for cs) and
        val_images_per_process (how many images each process scored: a list, so not a TensorBoard scalar). The
        sample grid shows process 0's first 4 images."""
        import jax
        from flax import nnx
        from jrestore.evaluation.evaluate import score
        from jrestore.inference.tasks import task_from_model
        from train.data import make_val_set, val_protocol

        cfg = self.cfg
        if not cfg.val.source:
            return {}
        if not hasattr(self, "_val"):
            full = make_val_set(cfg.val, task=cfg.task)
            self._val_count = len(full)
            # (index in the whole set, name, input, target) of this process's share only
            self._val = [(i, *full[i]) for i in val_share(len(full), jax.process_index(), jax.process_count())]
            self._val_protocol = val_protocol(cfg.val, cfg.task)
            self._eval_model = nnx.clone(self.model)
            scale = int(cfg.task.scale or 1) if cfg.task.kind == "sr" else 1
            self._eval_task = task_from_model(cfg.model.name, self._eval_model, self.kwargs, scale=scale,
                                              sigma=cfg.task.sigma, upsample=cfg.task.lr_resize)
            self._val_input_psnr = self._input_psnrs(scale)  # the weights do not change it: once per run
        params = self.state.get("ema", self.state["params"])
        nnx.update(self._eval_model, *self.setup.generator.states(jax_get(params), jax_get(self.state["rest"])))
        rows, samples, names, sample_psnrs = [], [], [], []
        for (index, name, x, target), input_psnr in zip(self._val, self._val_input_psnr):
            out = self._eval_task.restore(x, "jax")
            p_, s_ = score(out, target, self._val_protocol, self._eval_task.scale, "jax")
            rows.append((index, p_, s_, input_psnr))
            if len(samples) < 4:  # this process's first images (process 0's grid is the one kept)
                samples.append((x, out, target))
                names.append(name)
                sample_psnrs.append(p_)
        if jax.process_index() == 0:  # one writer of the grid: process 0's images
            reporting.save_sample_grid(reporting.sample_grid_path(self.workdir, self.step), samples, names,
                                       sample_psnrs)
        scores = gather_scores(np.asarray(rows, np.float64).reshape(-1, 4), self._val_count)
        per_process = [len(val_share(self._val_count, p, jax.process_count())) for p in range(jax.process_count())]
        got = np.asarray(scores["count"])
        if not np.array_equal(got, per_process):  # a process that skipped or repeated images: say so, never average
            raise RuntimeError(f"validation: processes scored {got.tolist()} images, expected {per_process}")
        out = {"val_psnr": float(np.mean(scores["psnr"])), "val_ssim": float(np.mean(scores["ssim"]))}
        if cfg.task.kind != "cs":
            out["val_input_psnr"] = float(np.mean(scores["input_psnr"]))
        return {**out, "val_images_per_process": got.tolist()}

    def _input_psnrs(self, scale: int) -> list[float]:
        """PSNR of the model's input against the target, per image of this process's share, under the
        validation protocol: the noisy image (denoise) or the LR upsampled with the task's bicubic (sr, the
        benchmarks' "Bicubic" column); NaN for cs, whose input is the image itself."""
        from jrestore.evaluation.evaluate import score
        from jrestore.inference.tasks import upsampler

        if self.cfg.task.kind == "cs":
            return [float("nan")] * len(self._val)
        up = upsampler("jax", self.cfg.task.lr_resize, scale) if self.cfg.task.kind == "sr" else (lambda x: x)
        return [score(up(x), target, self._val_protocol, scale, "jax")[0] for _, _, x, target in self._val]

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
        chief = jax.process_index() == 0
        title = cfg.recipe or cfg.model.name  # of curves.png
        # every process checks (a refusal stops them all alike); process 0 writes config.json
        run_files.check_config(self.workdir, cfg, self.allow_config_change, write=chief)
        iterator = self._iterator()
        store = self.checkpoints()
        try:
            resumed = self.restore(store, iterator)
        except BaseException:
            store.close()
            raise
        runlog = run_files.RunLog(self.workdir, enabled=chief)
        model_files = run_files.ModelFiles(self.workdir, cfg.model.name, self.kwargs, cfg.recipe, enabled=chief)
        n_params = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(self.state["params"]))
        runlog.line(run_files.banner(cfg, params=n_params, devices=self.mesh.size, processes=jax.process_count(),
                                     data=getattr(iterator, "source_info", {}), workdir=self.workdir), always=True)
        runlog.line(f"resumed at step {self.step} from {self.ckpt_dir / str(self.step)}" if resumed
                    else "starting at step 0", always=True)
        # a host copy of the initial state (and data position) until the first checkpoint is verified: if the
        # very first updates diverge, it is what gets checkpointed and named (the state they left is not)
        self._initial = None if resumed else (jax.device_get(self.state), iterator.get_state())
        # rows after the restored step (every row when starting from 0) belong to the part being redone
        log = reporting.MetricsLog(self.workdir, truncate_after=self.step,
                                   hparams=reporting.flat_config(cfg))
        bar = tqdm(total=total, initial=self.step, desc=cfg.recipe or cfg.model.name, unit="step",
                   disable=None if self.progress else True)
        pending = PendingSteps()
        last = {}
        tick, ticks = time.perf_counter(), 0
        try:
            while self.step < total:
                self.state, metrics = self.train_step(self.state, self.device_batch(next(iterator)))
                self.step += 1
                ticks += 1
                pending.add(self.step, metrics)
                bar.update()
                log_now = self.step % cfg.train.log_every == 0 or self.step == total
                val_now = bool(cfg.val.source) and (self.step % cfg.train.val_every == 0 or self.step == total)
                save_now = val_now or self.step % cfg.train.ckpt_every == 0 or self.step == total
                if log_now or save_now or self.stopped_by:
                    host, first_bad = pending.fetch()  # the only device -> host transfer of the loop
                    if first_bad is not None:
                        self._stop_non_finite(store, iterator, *first_bad)
                    if log_now:
                        rate = ticks / (time.perf_counter() - tick)
                        tick, ticks = time.perf_counter(), 0
                        last = {"step": self.step, "loss": host["loss"], "lr": host["lr"],
                                "grad_norm": host["grad_norm"], "steps_per_s": rate}
                        log.write(last)
                        bar.set_postfix(loss=f"{last['loss']:.4g}", lr=f"{last['lr']:.3g}", it_s=f"{rate:.2f}")
                        runlog.line(f"step {self.step}/{total}  loss {last['loss']:.5g}  lr {last['lr']:.3g}  "
                                    f"grad_norm {last['grad_norm']:.3g}  {rate:.2f} steps/s", write=bar.write)
                val = None
                if val_now:
                    val = self.validate()
                    log.write({"step": self.step, **val})
                    log.image("val/samples", reporting.sample_grid_path(self.workdir, self.step), self.step)
                    last.update(val)
                    baseline = (f"  (input {val['val_input_psnr']:.3f} dB)" if "val_input_psnr" in val else "")
                    runlog.line(f"step {self.step}/{total}  validation: PSNR {val['val_psnr']:.3f} dB  "
                                f"SSIM {val['val_ssim']:.4f}{baseline}", write=bar.write)
                    if chief:
                        reporting.plot_curves(self.workdir, title)  # redrawn at every validation
                if save_now:
                    self.save(store, iterator, metrics=val)
                    model_files.write(self.current_model(), self.step, (val or {}).get("val_psnr"))
                store.checksum_pending(block=False)
                if store.verified_step is not None:
                    self._initial = None  # a verified checkpoint exists: the initial state is not needed
                if self.stopped_by:
                    self.save(store, iterator, wait=True)
                    model_files.write(self.current_model(), self.step)
                    runlog.line(f"{self.stopped_by}: saved step {self.step} to {self.ckpt_dir}; stopping",
                                always=True, write=bar.write)
                    break
        finally:
            bar.close()
            try:
                store.checksum_pending(block=True)
            finally:
                store.close()
                log.close()
        if self.step >= total and chief:
            reporting.plot_curves(self.workdir, title)
            runlog.line(f"finished at step {self.step}: {self.workdir / run_files.MODEL_FILE}"
                        + (f", best {self.workdir / run_files.BEST_FILE} ({model_files.best:.3f} dB)"
                           if model_files.best is not None else ""), always=True)
        return last

    def _stop_non_finite(self, store: CheckpointStore, iterator, failing: int, loss: float, grad_norm: float):
        """Step `failing` was not applied (see train.step.guarded). The newest checkpoint written on schedule
        is named (its values are all finite: nothing non-finite is ever applied); the current state is not
        saved, as the updates that led there may already have wrecked the weights. Without any checkpoint
        yet, the initial state is saved as step 0 and named. Raises NonFiniteLoss."""
        import jax
        store.checksum_pending(block=True)
        if store.verified_step is None and self._initial is not None:
            state, data_state = self._initial
            self.state = jax.device_put(state, jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec()))
            iterator.set_state(data_state)
            self.step = 0
            self.save(store, iterator, wait=True)
        raise NonFiniteLoss(
            f"step {failing}: the loss, gradients or updated state are not finite (loss {loss:.4g}, "
            f"gradient norm {grad_norm:.4g}); the update was not applied and training stopped. Checkpoint with "
            f"every value finite: {self.ckpt_dir / str(store.verified_step)} (step {store.verified_step}); "
            f"rerun on this --workdir with a lower optim.lr (now {self.cfg.optim.lr:g}) and --allow-config-change "
            f"to resume from it")

    def _on_signal(self, signum, frame):
        name = signal.Signals(signum).name
        if self.stopped_by == name == "SIGINT":  # a second Ctrl-C: stop now, without the final save
            raise KeyboardInterrupt
        self.stopped_by = name

    def current_model(self, ema: bool = True):
        """A copy of the model holding the current weights (the EMA ones when EMA is on and `ema`), eval mode."""
        from flax import nnx
        model = nnx.clone(self.model)
        params = self.state.get("ema", self.state["params"]) if ema else self.state["params"]
        nnx.update(model, *self.setup.generator.states(jax_get(params), jax_get(self.state["rest"])))
        model.eval()
        return model

    def params_torch_layout(self) -> dict:
        """The current parameters and buffers (not the EMA ones) as a PyTorch-layout state dict (NumPy)."""
        from jrestore.convert import torch_state_dict
        return torch_state_dict(self.current_model(ema=False))


def val_share(n_images: int, process_index: int, process_count: int) -> list[int]:
    """Indices of the validation images process `process_index` of `process_count` scores: p, p + P, ...
    (round robin, so shares differ by at most one image and the big images are spread out)."""
    return list(range(process_index, n_images, process_count))


def gather_scores(rows: np.ndarray, n_images: int) -> dict:
    """rows: this process's [k, 4] float64 (image index, PSNR, SSIM, input PSNR) -> {"psnr", "ssim",
    "input_psnr": [n_images] in image order, "count": [P] rows each process sent}, the same on every process.

    One process: no communication. Several: jax.experimental.multihost_utils.process_allgather of the rows,
    padded to one length (index -1); sent as the float64 bits viewed as uint32, since JAX without x64 would
    round float64 to float32 and the gathered mean would then differ from one process's."""
    import jax

    rows = np.asarray(rows, np.float64).reshape(-1, 4)
    if jax.process_count() == 1:
        everything, counts = rows, [len(rows)]
    else:
        from jax.experimental import multihost_utils

        longest = -(-n_images // jax.process_count())
        padded = np.full((longest, 4), -1.0)
        padded[:len(rows)] = rows
        bits = multihost_utils.process_allgather(padded.view(np.uint32))  # [P, longest, 8]
        per_process = np.asarray(bits).view(np.float64).reshape(jax.process_count(), longest, 4)
        counts = [int((p[:, 0] >= 0).sum()) for p in per_process]
        everything = per_process.reshape(-1, 4)
        everything = everything[everything[:, 0] >= 0]
    order = np.argsort(everything[:, 0], kind="stable")
    everything = everything[order]
    if not np.array_equal(everything[:, 0], np.arange(n_images)):
        raise RuntimeError(f"validation: gathered scores for images {everything[:, 0].astype(int).tolist()}, "
                           f"expected 0 .. {n_images - 1} once each")
    return {"psnr": everything[:, 1], "ssim": everything[:, 2], "input_psnr": everything[:, 3],
            "count": np.asarray(counts)}


def jax_get(tree):
    import jax
    return jax.tree.map(np.asarray, jax.device_get(tree))
