"""What a run leaves in its workdir for people and for the other commands, besides the orbax checkpoints:

    config.json         the resolved config, written at start; a restart with a different one names the changed
                        keys and stops unless told to go on (--allow-config-change)
    train.log           the banner, "resumed at step N", one plain line per log step, validation results
    model.safetensors   the latest weights (EMA when kept), PyTorch layout with the model name, constructor
                        arguments, recipe, step and validation PSNR as metadata: what `jrestore restore / eval /
                        export / convert / verify --weights WORKDIR` and `jrestore.load(WORKDIR)` read
    best.safetensors    the same for the step with the best validation PSNR so far

Only process 0 writes them; every write is atomic.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from jrestore._io import atomic_write_text

__all__ = ["CONFIG_FILE", "LOG_FILE", "MODEL_FILE", "BEST_FILE", "RESTART_KEYS", "check_config", "RunLog",
           "ModelFiles", "banner"]

CONFIG_FILE, LOG_FILE, MODEL_FILE, BEST_FILE = "config.json", "train.log", "model.safetensors", "best.safetensors"
# Settings a restart may change without changing what is trained: how long, and how often it reports and saves.
RESTART_KEYS = ("train.steps", "train.log_every", "train.val_every", "train.ckpt_every", "train.keep")


def _flat(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def config_dict(cfg) -> dict:
    """The config as plain JSON values (arrays and other objects as their text)."""
    return json.loads(cfg.to_json_best_effort() if hasattr(cfg, "to_json_best_effort") else json.dumps(cfg, default=str))


def check_config(workdir, cfg, allow_change: bool = False, write: bool = True) -> list[str]:
    """Writes WORKDIR/config.json (when `write`); returns the keys that differ from the one an earlier start
    wrote. A difference outside RESTART_KEYS is a ValueError naming the keys (old -> new) unless allow_change,
    raised before anything is written."""
    path = Path(workdir) / CONFIG_FILE
    new = config_dict(cfg)
    changed = []
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}  # unreadable (hand-edited): rewritten below, like a first start
        old_flat, new_flat = _flat(old), _flat(new)
        changed = sorted(k for k in old_flat.keys() | new_flat.keys() if old_flat.get(k) != new_flat.get(k))
        serious = [k for k in changed if k not in RESTART_KEYS]
        if serious and not allow_change:
            shown = "; ".join(f"{k}: {old_flat.get(k)!r} -> {new_flat.get(k)!r}" for k in serious[:6])
            more = f" (and {len(serious) - 6} more)" if len(serious) > 6 else ""
            raise ValueError(f"--workdir {workdir}: this run was started with another config ({shown}{more}); "
                             f"pass --allow-config-change to resume with the new one, or use another --workdir")
    if write:
        atomic_write_text(path, json.dumps(new, indent=2, sort_keys=True) + "\n")
    return changed


class RunLog:
    """Lines for people: appended to WORKDIR/train.log, and printed on stdout when stdout is not a terminal
    (a terminal has the progress bar; a pipe or a file gets the plain lines instead). `always`: print even
    on a terminal (the banner). stderr stays for errors, one line each."""

    def __init__(self, workdir, enabled: bool = True):
        self.path = Path(workdir) / LOG_FILE
        self.enabled = enabled
        self.plain = not (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())

    def line(self, text: str, always: bool = False, write=None) -> None:
        if not self.enabled:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {text}\n")
        if always or self.plain:
            (write or (lambda s: print(s, flush=True)))(text)


def banner(cfg, *, params: int, devices: int, processes: int, data: dict, workdir) -> str:
    """One line: recipe, model (arguments), parameter count, devices and processes, data source and size, workdir."""
    kwargs = {k: v for k, v in dict(cfg.model.kwargs).items() if not hasattr(v, "shape")}
    where = f" {data.get('path') or data.get('name')}" if data.get("path") or data.get("name") else ""
    size = f", {data['images']} images" if data.get("images") is not None else ""
    return (f"jrestore train: recipe {cfg.recipe or '-'}; model {cfg.model.name} {kwargs}, {params:,} parameters; "
            f"{devices} device(s), {processes} process(es); data {data.get('source', '?')}{where}{size}; "
            f"batch {int(cfg.train.global_batch_size)}, {int(cfg.train.steps)} steps; workdir {Path(workdir).absolute()}")


class ModelFiles:
    """Writes model.safetensors (every checkpoint) and best.safetensors (a new best validation PSNR)."""

    def __init__(self, workdir, name: str, kwargs: dict, recipe: str, enabled: bool = True):
        self.workdir, self.name, self.kwargs, self.recipe, self.enabled = Path(workdir), name, kwargs, recipe, enabled
        self.best = self._recorded_best()

    def _recorded_best(self) -> float | None:
        path = self.workdir / BEST_FILE
        if not path.is_file():
            return None
        from jrestore.convert.checkpoints import read_safetensors_metadata
        try:
            value = read_safetensors_metadata(path).get("val_psnr")
        except ValueError:
            return None  # unreadable: the next validation writes a new one
        return float(value) if isinstance(value, (int, float)) else None

    def write(self, model, step: int, val_psnr: float | None = None) -> list[Path]:
        """Writes the latest file, and the best one when val_psnr beats every earlier validation."""
        if not self.enabled:
            return []
        from jrestore.convert.checkpoints import save_model_file

        meta = dict(recipe=self.recipe or None, step=step, val_psnr=val_psnr, source="jrestore train")
        written = [save_model_file(self.workdir / MODEL_FILE, model, self.name, self.kwargs, **meta)]
        if val_psnr is not None and (self.best is None or val_psnr > self.best):
            self.best = float(val_psnr)
            written.append(save_model_file(self.workdir / BEST_FILE, model, self.name, self.kwargs, **meta))
        return written
