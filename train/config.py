"""Loading a training config: a recipe name (`dncnn_s25`, `dncnn_s25:runlocal`) or a Python file with
`get_config(variant)`, then `--set key.sub=value` overrides. Unknown keys are errors that list the valid ones;
a value of the wrong type (`train.steps=abc`) or out of range (`train.steps=-1`, `optim.lr=nan`) is one
ValueError naming the key, what was expected and what came.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import math
from pathlib import Path

from ml_collections import ConfigDict

from train.configs import RECIPES

__all__ = ["load_config", "apply_overrides", "flat_keys", "validate"]

# keys that count something and must be at least 1
POSITIVE_INTS = ("train.steps", "train.global_batch_size", "train.log_every", "train.val_every", "train.ckpt_every",
                 "train.keep", "train.sample_every")
POSITIVE_FLOATS = ("optim.lr", "gan.optim.lr")
NON_NEGATIVE = ("train.devices", "optim.weight_decay", "optim.clip_grad_norm", "optim.eps", "gan.weight",
                "gan.optim.weight_decay", "gan.optim.clip_grad_norm", "gan.optim.eps", "loss.perceptual.weight",
                "schedule.warmup_steps", "schedule.min_lr", "val.limit")
UNIT_INTERVAL = ("optim.b1", "optim.b2", "optim.ema_decay", "gan.optim.b1", "gan.optim.b2", "gan.optim.ema_decay")


def flat_keys(cfg: ConfigDict, prefix: str = "") -> list[str]:
    out = []
    for k, v in cfg.items():
        out.extend(flat_keys(v, f"{prefix}{k}.") if isinstance(v, ConfigDict) and k != "kwargs" else [f"{prefix}{k}"])
    return out


def load_config(spec: str, overrides: list[str] = ()) -> ConfigDict:
    """spec: 'recipe', 'recipe:variant', 'path/to/file.py' or 'path/to/file.py:variant'."""
    name, _, variant = spec.partition(":")
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"--config: no such file {path}")
        module_spec = importlib.util.spec_from_file_location(f"_jrestore_config_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    elif name in RECIPES:
        module = importlib.import_module(f"train.configs.{name}")
    else:
        raise ValueError(f"--config: expected one of {list(RECIPES)} (optionally ':runlocal') or a .py file, got {spec!r}")
    if variant not in ("", "runlocal"):
        raise ValueError(f"--config: variant expected '' or 'runlocal', got {variant!r}")
    cfg = module.get_config(variant)
    return validate(apply_overrides(cfg, overrides))


def _get(cfg: ConfigDict, key: str):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def validate(cfg: ConfigDict) -> ConfigDict:
    """One ValueError for the first setting out of range: counts >= 1, learning rates finite and > 0,
    betas and EMA decay in [0, 1), no NaN or infinity anywhere; returns cfg."""
    for key in flat_keys(cfg):
        value = _get(cfg, key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key}: expected a finite number, got {value}")
    for key in POSITIVE_INTS:
        value = _get(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}: expected an integer >= 1, got {value!r}")
    for key in POSITIVE_FLOATS:
        if not _get(cfg, key) > 0:
            raise ValueError(f"{key}: expected a learning rate > 0, got {_get(cfg, key)!r}")
    for key in NON_NEGATIVE:
        if not _get(cfg, key) >= 0:
            raise ValueError(f"{key}: expected a number >= 0, got {_get(cfg, key)!r}")
    for key in UNIT_INTERVAL:
        if not 0 <= _get(cfg, key) < 1:
            raise ValueError(f"{key}: expected a number in [0, 1), got {_get(cfg, key)!r}")
    if cfg.train.compute_dtype not in ("float32", "bfloat16"):
        raise ValueError(f"train.compute_dtype: expected 'float32' or 'bfloat16', got {cfg.train.compute_dtype!r}")
    from train.data.pipeline import check_val_config
    from train.data.sources import check_data_config  # every data setting takes effect (no file is read)

    check_data_config(cfg.data, cfg.task)
    check_val_config(cfg.val)
    return cfg


def _parse(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _typed(key: str, text: str, current):
    """The --set text as a value of the current value's type, or one ValueError."""
    value = _parse(text)
    if current is None or isinstance(current, ConfigDict) and isinstance(value, dict):
        return value
    if isinstance(current, str):  # `data.path=2024` means the text 2024
        return value if isinstance(value, str) else text
    if isinstance(current, bool):
        ok, what = isinstance(value, bool), "True or False"
    elif isinstance(current, int):
        ok, what = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(current, float):
        if isinstance(value, str):  # nan, inf: parsed here so that the range check names them
            try:
                value = float(text)
            except ValueError:
                pass
        ok, what = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    elif isinstance(current, (list, tuple)):
        ok, what = isinstance(value, (list, tuple)), "a list such as [1, 2]"
    elif isinstance(current, ConfigDict):
        ok, what = False, "a dict such as {'key': 1}"
    else:
        ok, what = isinstance(value, type(current)), f"a {type(current).__name__}"
    if not ok:
        raise ValueError(f"--set {key}: expected {what} (the default is {current!r}), got {text!r}")
    return value


def apply_overrides(cfg: ConfigDict, overrides) -> ConfigDict:
    """`key.sub=value` items (Python literals, else strings). model.kwargs and loss.kwargs accept new keys."""
    cfg = ConfigDict(cfg.to_dict())
    valid = flat_keys(cfg)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set: expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        parts = key.split(".")
        node = cfg
        for i, part in enumerate(parts[:-1]):
            if part not in node or not isinstance(node[part], ConfigDict):
                raise ValueError(f"--set: unknown key {key!r}; valid keys: {', '.join(valid)}")
            node = node[part]
        leaf = parts[-1]
        open_dict = len(parts) >= 2 and parts[-2] == "kwargs"
        if leaf not in node and not open_dict:
            raise ValueError(f"--set: unknown key {key!r}; valid keys: {', '.join(valid)}")
        node[leaf] = _typed(key, value, node[leaf]) if leaf in node else _parse(value)
    return cfg
