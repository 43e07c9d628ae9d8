"""Users' own models, loaded from a plugin file or from installed packages (framework-neutral: importlib only).

A plugin is a Python file that defines a JAX (Flax NNX) model, its PyTorch twin and their `ModelSpec`, and
registers all three (see examples/tiny_plugin.py and the README's "Your own model"):

    jrestore.models._registry.register("my_model")(MyModel)          # the NNX class
    torch_ref.models._registry.register("my_model")(MyModelTorch)    # the torch.nn.Module twin
    jrestore.core.spec.register_spec(ModelSpec("my_model", ...))     # what the commands need to know

`load_plugin(path)` runs such a file once (a second call with the same file returns the same names);
`load_entry_points()` imports what installed packages list under the entry-point group `jrestore.models`
(`[project.entry-points."jrestore.models"] my_models = "my_package.models"`: a module whose import registers,
or `"my_package.models:register"`, a function called with no arguments). Every command (`jrestore ...
--plugin FILE.py`) loads, through `load_plugins`, the entry points, the files in $JRESTORE_PLUGINS and its
--plugin files before it runs. The plugin imports the frameworks itself; this module
imports neither, so it also serves the torch-free and JAX-free paths.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterable

__all__ = ["ENTRY_POINT_GROUP", "PLUGINS_ENV", "PluginError", "load_plugin", "load_entry_points", "load_plugins"]

ENTRY_POINT_GROUP = "jrestore.models"
PLUGINS_ENV = "JRESTORE_PLUGINS"  # plugin files every command loads, as if given with --plugin

# resolved file path or entry-point value -> the spec names its first load registered
_LOADED: dict[str, tuple[str, ...]] = {}


class PluginError(ValueError):
    """A plugin that cannot be used: one line naming the file (or entry point) and what went wrong.

    A ValueError, so the command line reports it as bad input (exit 2) without a traceback."""


def _spec_names() -> set[str]:
    from jrestore.core.spec import all_specs  # the spec registry sits in the core too

    return set(all_specs())


def _one_line(err: BaseException) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _run_registering(label: str, load) -> tuple[str, ...]:
    """Call `load()` and return the names of the specs it registered; PluginError if it raised or
    registered none."""
    before = _spec_names()
    try:
        load()
    except Exception as err:  # the user's code: any failure is reported as theirs, in one line
        raise PluginError(f"{label}: importing it raised {_one_line(err)}"[:500]) from err
    new = tuple(sorted(_spec_names() - before))
    if not new:
        raise PluginError(f"{label}: it registered no model; expected it to call "
                          f"jrestore.core.spec.register_spec(ModelSpec(...)) (and register its JAX and torch classes)")
    return new


def load_plugin(path: str | Path, what: str = "plugin") -> tuple[str, ...]:
    """Run the plugin file `path` (once per file) and return the names of the models it registered.

    Raises PluginError (a ValueError) naming `what` (e.g. the command-line flag) and `path` when the file is
    missing, is not a .py file, raises while it runs, or registers no model spec.
    """
    file = Path(path).expanduser()
    label = f"{what} {str(path)!r}"
    if not file.is_file():
        raise PluginError(f"{label}: no such file" if not file.exists() else f"{label}: not a file")
    if file.suffix != ".py":
        raise PluginError(f"{label}: expected a Python file ending in .py, got {file.suffix or 'no suffix'!r}")
    key = str(file.resolve())
    if key in _LOADED:
        return _LOADED[key]
    # a module name of its own (the file's stem alone could shadow an installed module of that name)
    stem = re.sub(r"\W", "_", file.stem)
    module_name = f"jrestore_plugin_{stem}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)

    sys.modules[module_name] = module  # dataclasses and pickling look their module up by name
    try:
        names = _run_registering(label, lambda: spec.loader.exec_module(module))
    except BaseException:  # a plugin that failed leaves no module behind
        sys.modules.pop(module_name, None)
        raise
    _LOADED[key] = names
    return names


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> dict[str, tuple[str, ...]]:
    """Load every installed entry point of `group` (once each); returns {entry point name: model names}."""
    loaded = {}
    for entry in metadata.entry_points(group=group):
        key = f"{group}={entry.value}"
        if key not in _LOADED:
            def load(entry=entry):
                target = entry.load()
                if entry.attr:  # "package.module:function": the function registers
                    target()
            _LOADED[key] = _run_registering(f"entry point {entry.name} = {entry.value!r} (group {group})", load)
        loaded[entry.name] = _LOADED[key]
    return loaded


def load_plugins(paths: Iterable[str | Path] = (), entry_points: bool = True, what: str = "--plugin") -> tuple[str, ...]:
    """What a command loads before it runs: installed entry points (when `entry_points`), the files listed in
    $JRESTORE_PLUGINS (os.pathsep-separated), then each of `paths` in order; returns every model name they
    registered.

    The files end up listed in $JRESTORE_PLUGINS, so that processes the command starts (the bench's JAX
    worker calls this too) load the same models.
    """
    names: list[str] = []
    if entry_points:
        for registered in load_entry_points().values():
            names += registered
    inherited = [p for p in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if p]
    files: dict[str, tuple] = {}  # resolved path -> (path as given, where it came from), first mention kept
    for path, flag in [(p, PLUGINS_ENV) for p in inherited] + [(p, what) for p in paths]:
        files.setdefault(str(Path(path).expanduser().resolve()), (path, flag))
    for path, flag in files.values():
        names += load_plugin(path, flag)
    if files:
        os.environ[PLUGINS_ENV] = os.pathsep.join(files)
    return tuple(dict.fromkeys(names))
