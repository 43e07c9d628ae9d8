"""Loading a training config: a recipe name (`dncnn_s25`, `dncnn_s25:runlocal`), a registered model's name
(`dncnn`, a plugin's `tiny_denoiser:runlocal`: its spec's recipe, else the generic recipe for its kind) or a
Python file with `get_config(variant)`, then `--set key.sub=value` overrides.

Overrides are ml_collections' own typed overrides (`config_flags.DEFINE_config_dict`, the parser behind
`--config.key=value`): the field's type picks the parser (integer, float, bool, tuple, str, dict), so
`train.steps=abc` or `data.augment=yes` is refused. A str field also takes a quoted Python literal
(`val.source=''`, `schedule.name='step'`), since `--set` values often come quoted from Python argv lists.
Unknown keys are errors that list the valid ones, except under `*.kwargs` (constructor and loss arguments,
open dicts). A value out of range (`train.steps=-1`, `optim.lr=nan`) is one ValueError naming the key, what
was expected and what came.
"""
from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
import math
from pathlib import Path

from ml_collections import ConfigDict

from train.configs import RECIPES
from train.settings import get

__all__ = ["load_config", "apply_overrides", "flat_keys", "validate", "generic_config"]

# keys that count something and must be at least 1
POSITIVE_INTS = ("train.steps", "train.global_batch_size", "train.log_every", "train.val_every", "train.ckpt_every",
                 "train.keep")
POSITIVE_FLOATS = ("optim.lr", "gan.optim.lr")
NON_NEGATIVE = ("train.devices", "optim.weight_decay", "optim.clip_grad_norm", "optim.eps", "gan.weight",
                "gan.optim.weight_decay", "gan.optim.clip_grad_norm", "gan.optim.eps", "loss.perceptual.weight",
                "schedule.warmup_steps", "schedule.min_lr", "val.limit")
UNIT_INTERVAL = ("optim.b1", "optim.b2", "optim.ema_decay", "gan.optim.b1", "gan.optim.b2")
# what an override of a field of this type must look like (the parse error names it)
_EXPECTED = {bool: "True or False", int: "an integer", float: "a number", tuple: "a list such as [1, 2]",
             str: "a string", ConfigDict: "a dict such as {'key': 1}"}


def flat_keys(cfg: ConfigDict, prefix: str = "") -> list[str]:
    out = []
    for k, v in cfg.items():
        out.extend(flat_keys(v, f"{prefix}{k}.") if isinstance(v, ConfigDict) and k != "kwargs" else [f"{prefix}{k}"])
    return out


def load_config(spec: str, overrides: list[str] = ()) -> ConfigDict:
    """spec: 'recipe', 'model' or 'path/to/file.py', optionally followed by ':runlocal'."""
    name, _, variant = spec.partition(":")
    if variant not in ("", "runlocal"):
        raise ValueError(f"--config: variant expected '' or 'runlocal', got {variant!r}")
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"--config: no such file {path}")
        module_spec = importlib.util.spec_from_file_location(f"_jrestore_config_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        cfg = module.get_config(variant)
    elif name in RECIPES:
        cfg = importlib.import_module(f"train.configs.{name}").get_config(variant)
    else:
        model = _model_spec(name, spec)
        if model.recipe:
            cfg = importlib.import_module(f"train.configs.{model.recipe}").get_config(variant)
        else:
            cfg = generic_config(model, variant)
    return validate(apply_overrides(cfg, overrides))


def _model_spec(name: str, given: str):
    """The spec of a registered restorer `name`, or one ValueError listing recipes and trainable models."""
    from jrestore.core.spec import all_specs

    models = {n: s for n, s in all_specs().items() if s.kind is not None}
    if name not in models:
        raise ValueError(f"--config: expected one of {list(RECIPES)}, a model of {sorted(models)} (optionally "
                         f"':runlocal') or a .py file, got {given!r}")
    return models[name]


def generic_config(model, variant: str = "") -> ConfigDict:
    """The recipe of a model without one (`spec.recipe` None), from its spec: its default constructor
    arguments, kind, channels, scale and alignment; MSE (ISTA-Net's loss for compressed sensing), Adam 1e-4,
    scikit-image photos as training data, no validation set. runlocal: a smoke run of a few steps on tiny
    batches, the network built with its parity case's small arguments when the spec has one."""
    from train.configs.common import base_config

    runlocal = variant == "runlocal"
    # runlocal: the spec's small parity case (a tiny network of the same family), when it has one
    kwargs = model.kwargs(model.parity.small if runlocal and model.parity is not None else None)
    from jrestore.models import MODELS

    built = MODELS.resolve(model.name, kwargs)  # + the constructor's defaults: the real channels and scale
    c = base_config()
    c.recipe = f"{model.name}_generic"
    c.model.name = model.name
    c.model.kwargs = kwargs
    c.task.update(kind=model.kind, channels="rgb" if model.channels(built) == 3 else "y")
    c.data.update(source="", path="")  # "": data.path picks the folder source, as in every recipe
    align = max(1, int(model.align(built)))
    if model.kind == "sr":
        scale = model.scale(built)
        c.task.scale = scale
        c.data.patch_size = scale * _round_up(8 if runlocal else 24, align)  # HR patch: LR side x scale
    elif model.kind == "cs":
        c.data.patch_size = int(c.task.block)
        c.loss.update(name="ista_net", kwargs={"gamma": 0.01})
    else:
        c.data.patch_size = _round_up(24 if runlocal else 40, align)
    if runlocal:
        c.data.patches_per_image = 2
        c.train.update(steps=4, global_batch_size=4, log_every=2, val_every=4, ckpt_every=4)
    return c


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def validate(cfg: ConfigDict) -> ConfigDict:
    """One ValueError for the first setting out of range: counts >= 1, learning rates finite and > 0,
    betas and EMA decay in [0, 1), milestones whole step numbers, no NaN or infinity anywhere; returns cfg."""
    for key in flat_keys(cfg):
        value = get(cfg, key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key}: expected a finite number, got {value}")
    for key in POSITIVE_INTS:
        value = get(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}: expected an integer >= 1, got {value!r}")
    for key in POSITIVE_FLOATS:
        if not get(cfg, key) > 0:
            raise ValueError(f"{key}: expected a learning rate > 0, got {get(cfg, key)!r}")
    for key in NON_NEGATIVE:
        if not get(cfg, key) >= 0:
            raise ValueError(f"{key}: expected a number >= 0, got {get(cfg, key)!r}")
    for key in UNIT_INTERVAL:
        if not 0 <= get(cfg, key) < 1:
            raise ValueError(f"{key}: expected a number in [0, 1), got {get(cfg, key)!r}")
    milestones = cfg.schedule.milestones
    if not all(isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in milestones):
        # ml_collections parses a tuple field's text item by item: `milestones=abc` comes as ('abc',)
        raise ValueError(f"schedule.milestones: expected step numbers >= 0 such as [1000, 2000], got {milestones!r}")
    if cfg.train.compute_dtype not in ("float32", "bfloat16"):
        raise ValueError(f"train.compute_dtype: expected 'float32' or 'bfloat16', got {cfg.train.compute_dtype!r}")
    from train.data.pipeline import check_val_config
    from train.data.sources import check_data_config  # every data setting takes effect (no file is read)

    check_data_config(cfg.data, cfg.task)
    check_val_config(cfg.val)
    if "distill" in cfg:  # knowledge distillation (train/distill.py): weights, criteria, taps, teacher name
        from train.distill import Distillation
        Distillation(cfg)
    return cfg


def _field_type(cfg: ConfigDict, key: str, valid: list[str]):
    """The type of the field `key` overrides (None for a new key under *.kwargs); unknown keys and whole
    sections (other than *.kwargs) are one ValueError listing the valid keys."""
    from ml_collections.config_flags import config_path

    parts = key.split(".")
    node = cfg
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, ConfigDict) else None
        if not isinstance(node, ConfigDict):
            break
    known = isinstance(node, ConfigDict) and parts[-1] in node
    if known and (key in valid or parts[-2:-1] == ["kwargs"]):
        return config_path.get_type(key, cfg)
    if not known and isinstance(node, ConfigDict) and parts[-2:-1] == ["kwargs"]:
        return None  # a new constructor or loss argument: parsed as a Python literal
    raise ValueError(f"--set: unknown key {key!r}; valid keys: {', '.join(valid)}")


def _unquote(text: str) -> str:
    """'step' or "" (a quoted Python string literal) -> its text; anything else unchanged."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return value if isinstance(value, str) else text
    return text


def apply_overrides(cfg: ConfigDict, overrides) -> ConfigDict:
    """A copy of cfg with `key.sub=value` items applied in order, each through ml_collections' typed override
    of that field (a new key under *.kwargs takes any Python literal, else the text)."""
    from absl import flags
    from ml_collections import config_flags
    from ml_collections.config_flags import config_path

    cfg = copy.deepcopy(cfg)
    valid = flat_keys(cfg)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set: expected key=value, got {item!r}")
        kind = _field_type(cfg, key, valid)
        if kind is str:
            text = _unquote(text)
        argv = ["jrestore", f"--config.{key}={text}"]
        holder = flags.FlagValues()
        config_flags.DEFINE_config_dict("config", cfg, flag_values=holder, lock_config=False,
                                        accept_new_attributes=kind is None, sys_argv=argv)
        try:
            holder(argv)
        except flags.Error:
            current = config_path.get_value(key, cfg)
            raise ValueError(f"--set {key}: expected {_EXPECTED.get(kind, f'a {kind.__name__}')} "
                             f"(the default is {current!r}), got {text!r}") from None
    return cfg
