"""Loading a training config: a recipe name (`dncnn_s25`, `dncnn_s25:runlocal`) or a Python file with
`get_config(variant)`, then `--set key.sub=value` overrides. Unknown keys are errors that list the valid ones.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

from ml_collections import ConfigDict

from train.configs import RECIPES

__all__ = ["load_config", "apply_overrides", "flat_keys"]


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
    return apply_overrides(cfg, overrides)


def _parse(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
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
        node[leaf] = _parse(value)
    return cfg
