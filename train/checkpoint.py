"""Checkpoints of a training run: orbax (async), the latest `keep` plus the best by validation PSNR, each with
the state, the data iterator's state and the step, and a SHA-256 of its files (train/integrity.py).

    store = CheckpointStore(workdir, keep=3)
    restored = store.restore(abstract_state)     # None, or (step, state, data_state): the newest verified one
    store.save(step, state, data_state, recipe)  # asynchronous; its checksum follows once orbax finalised it
    store.checksum_pending(block=False)          # after every step: writes that checksum when it is ready
    store.close()

Guarantees: a checkpoint is restored only when it matches its checksum and every value is finite; one that
fails is named in one line on stderr and moved to WORKDIR/checkpoints_rejected/ (kept, never loaded), and the
previous one is used. Rotation never deletes the newest verified checkpoint. A workdir whose checkpoints all
predate checksums is loaded with a one-line warning (orbax renames a step into place only once it is
complete, so such a step is whole; its values are still checked finite).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from train import integrity

__all__ = ["CheckpointStore"]


class CheckpointStore:
    def __init__(self, workdir, keep: int):
        import orbax.checkpoint as ocp
        from orbax.checkpoint import checkpoint_managers as cm

        self.workdir = Path(workdir)
        self.saved_step = None  # the step of the latest save started
        self.verified_step = None  # the newest checkpoint whose checksum is written (never rotated away)
        policy = cm.AnyPreservationPolicy([
            cm.LatestN(n=int(keep)),
            cm.BestN(get_metric_fn=lambda m: m["val_psnr"], n=1, keep_checkpoints_without_metrics=False),
            _KeepStep(lambda: self.verified_step)])
        options = ocp.CheckpointManagerOptions(preservation_policy=policy, enable_async_checkpointing=True)
        self.manager = ocp.CheckpointManager(self.dir, options=options)

    @property
    def dir(self) -> Path:
        return (self.workdir / "checkpoints").absolute()

    def save(self, step: int, state, data_state: dict, recipe: str, metrics: dict | None = None,
             wait: bool = False) -> None:
        """Starts saving `step` (once: a second call for the same step only waits when asked); wait: returns
        once it is on disk with its checksum."""
        import orbax.checkpoint as ocp
        if self.saved_step == step:  # e.g. SIGTERM right after a checkpoint step: already saved
            if wait:
                self.checksum_pending(block=True)
            return
        self.checksum_pending(block=True)  # the previous save's (orbax's save waits for it anyway)
        self.saved_step = step
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave({"step": step, "recipe": recipe})), metrics=metrics, force=True)
        if wait:
            self.checksum_pending(block=True)

    def checksum_pending(self, block: bool) -> None:
        """Writes the checksum of the latest save once orbax has finalised it: block=True waits for it (as
        orbax's next save would anyway); block=False (after every step) only looks, so the window in which
        a finalised checkpoint has no checksum yet is about one step."""
        import jax
        step = self.saved_step
        if step is None or step == self.verified_step:
            return
        if block:
            self.manager.wait_until_finished()
        elif self.manager.is_saving_in_progress():
            return
        if not (self.dir / str(step)).is_dir():  # the save failed; orbax reports it
            return
        if jax.process_index() == 0:
            integrity.write_checksum(self.dir / str(step))
        self.verified_step = step

    def restore(self, abstract_state):
        """(step, state, data_state) of the newest checkpoint that matches its checksum and holds only finite
        values, or None; those newer that fail are named (one line each) and moved aside. abstract_state:
        the state's shapes, dtypes and shardings (what the config builds)."""
        import jax
        import orbax.checkpoint as ocp

        root = self.dir
        steps = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit() and p.is_dir()), reverse=True) \
            if root.is_dir() else []
        legacy = bool(steps) and not any(integrity.has_checksum(root / str(s)) for s in steps)
        rejected, got, chosen = [], None, None
        for step in steps:
            problem = None if legacy else integrity.verify(root / str(step))
            if problem:
                rejected.append((step, problem))
                continue
            try:
                # checked first: orbax finds a shape mismatch only while reading, and its failed read leaves
                # coroutines and TensorStore callbacks behind ("Event loop is closed" at a later collection)
                _check_shapes(root / str(step) / "state", abstract_state)
                got = self.manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore(),
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
        self._set_aside(rejected, f"using step {chosen}" if chosen is not None
                        else "no verified checkpoint left, starting from step 0")
        if got is None:
            return None
        if legacy:
            print(f"warning: checkpoint step {chosen} in {root} has no checksum (written by a jrestore before "
                  "checkpoint checksums); loaded it unverified (every value is finite) and wrote its checksum",
                  file=sys.stderr)
            if jax.process_index() == 0:
                integrity.write_checksum(root / str(chosen))
        self.verified_step = self.saved_step = chosen
        return int(got["meta"]["step"]), got["state"], got["data"]

    def _set_aside(self, rejected: list, using: str) -> None:
        """Moves each rejected step to WORKDIR/checkpoints_rejected/ with one line on stderr."""
        import jax
        if not rejected:
            return
        root, aside = self.dir, self.workdir.absolute() / "checkpoints_rejected"
        if jax.process_count() > 1:  # every process has decided before any directory moves
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
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices("jrestore_rejected_checkpoints_moved")
        self.manager.reload()

    def close(self) -> None:
        self.manager.close()


def _leaf_name(path) -> str:
    """A pytree path as 'opt_state/0/0/mu/model/0/bias', alike for the state (named tuples, NNX's int keys) and
    orbax's metadata of it (dicts with string keys)."""
    return "/".join(str(getattr(p, "key", getattr(p, "idx", getattr(p, "name", p)))) for p in path)


def _check_shapes(state_dir: Path, abstract_state) -> None:
    """ValueError naming the first leaf whose shape on disk (orbax's metadata, no array read) differs from
    abstract_state's; orbax refuses such a checkpoint anyway (it never pads or truncates). Leaves present on
    one side only are left to orbax, which reports them before reading anything."""
    import jax
    import orbax.checkpoint as ocp

    handler = ocp.PyTreeCheckpointHandler()
    try:
        on_disk = {_leaf_name(k): tuple(m.shape) for k, m in jax.tree_util.tree_leaves_with_path(
            handler.metadata(state_dir).tree) if getattr(m, "shape", None) is not None}
    finally:
        handler.close()
    for path, leaf in jax.tree_util.tree_leaves_with_path(abstract_state):
        name = _leaf_name(path)
        if name in on_disk and on_disk[name] != tuple(leaf.shape):
            raise ValueError(f"the state's {name} has shape {on_disk[name]} in the checkpoint and "
                             f"{tuple(leaf.shape)} in this config")


class _KeepStep:
    """orbax preservation policy: never delete the step `get_step()` returns (the newest verified one), so
    that a newer checkpoint still being written or found damaged later always has a good one behind it."""

    def __init__(self, get_step):
        self.get_step = get_step

    def should_preserve(self, checkpoints, *, context):
        keep = self.get_step()
        return [info.step == keep for info in checkpoints]
