"""Model files and training workdirs as `--weights` (framework-neutral: imports neither JAX nor PyTorch).

A *model file* is a PyTorch-layout safetensors file whose metadata names the model: what `jrestore convert`
writes and what the trainer writes as WORKDIR/model.safetensors (latest) and WORKDIR/best.safetensors (best
validation PSNR), through `jrestore.convert.checkpoints.save_model_file`. Everywhere a weights path is taken
(`--weights` of restore, eval, export, convert and verify; `jrestore.load`; `torch_ref.load`) it may be

    path/to/file.safetensors | .pth | .pt | .pkl | .mat     the file itself
    WORKDIR                                                  WORKDIR/model.safetensors (the latest weights)
    WORKDIR:best                                             WORKDIR/best.safetensors (best validation PSNR)
    WORKDIR:latest                                           WORKDIR/model.safetensors

    path, meta = resolve_weights("runs/dncnn")            # Path('runs/dncnn/model.safetensors'), its metadata
    name, path, meta = resolve_model(None, "runs/dncnn")  # the model name the file records
    recorded_kwargs(meta)                                  # {'in_nc': 1, 'nb': 17, ...} as recorded

The metadata is read from the safetensors JSON header directly (8-byte little-endian length, then JSON), so
torch_ref reads it without any other package. Values are JSON-decoded; `kwargs` is stored as a JSON string
inside that (convert's habit since its first version) and `recorded_kwargs` accepts both forms.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Mapping

import numpy as np

__all__ = ["MODEL_FILE", "BEST_FILE", "FORMAT", "WRAPPER_KEYS", "resolve_weights", "read_metadata",
           "recorded_model", "recorded_kwargs", "resolve_model", "unwrap_state_dict", "is_tensor"]

MODEL_FILE = "model.safetensors"  # a workdir's latest weights
BEST_FILE = "best.safetensors"    # a workdir's weights at its best validation PSNR
FORMAT = "jrestore-torch-layout-v1"  # metadata["format"] of every model file jrestore writes
_SELECTORS = {"latest": MODEL_FILE, "best": BEST_FILE}
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header

# checkpoint wrappers, in the order `param_key=None` tries them (EMA weights first, as BasicSR tests them)
WRAPPER_KEYS = ("params_ema", "params", "state_dict")


def _split_selector(text: str) -> tuple[str, str | None]:
    """'runs/x:best' -> ('runs/x', 'best'); anything else -> (text, None). A real file named 'a:best' wins."""
    base, sep, tail = text.rpartition(":")
    if sep and tail in _SELECTORS and base and not Path(text).exists():
        return base, tail
    return text, None


def resolve_weights(path, what: str = "--weights") -> tuple[Path, dict]:
    """(weights file, its metadata ({} for files other than safetensors)) for a file, WORKDIR or WORKDIR:best.

    Errors, one line naming `what`: a missing path -> FileNotFoundError; a folder without the model file
    (a workdir whose run has not written one yet, an orbax checkpoint folder, any other folder) -> ValueError
    saying which file was looked for and what to do; ':best' / ':latest' after a non-folder -> ValueError.
    """
    text = str(path)
    base, selector = _split_selector(text)
    folder = Path(base)
    if selector is not None and not folder.is_dir():
        raise ValueError(f"{what}: {text}: ':{selector}' picks a file of a training workdir, but {base} is not a "
                         f"folder")
    if folder.is_dir():
        name = _SELECTORS[selector or "latest"]
        file = folder / name
        if not file.is_file():
            raise ValueError(f"{what}: {_folder_problem(folder, name)}")
        return file, read_metadata(file, what)
    file = Path(text)
    if not file.exists():
        raise FileNotFoundError(f"{what}: no such file {file}")
    return file, (read_metadata(file, what) if file.suffix.lower() == ".safetensors" else {})


def _folder_problem(folder: Path, name: str) -> str:
    """Why folder `folder` gives no model file `name`, and what to do (trainer runs write it as they checkpoint)."""
    def steps(d: Path) -> list[str]:
        return sorted((p.name for p in d.iterdir() if p.name.isdigit() and p.is_dir()), key=int) if d.is_dir() else []

    if name == BEST_FILE and (folder / MODEL_FILE).is_file():
        return (f"{folder} holds no {name}: no validation has run yet; {folder / MODEL_FILE} holds the latest "
                f"weights (pass {folder} for them)")
    if steps(folder / "checkpoints"):
        return (f"{folder} is a folder, not a weights file: a training workdir with orbax checkpoints (steps "
                f"{', '.join(steps(folder / 'checkpoints')[-3:])}) but no {name}; runs write {MODEL_FILE} and "
                f"{BEST_FILE} as they checkpoint, so resume the run for one more checkpoint (orbax steps "
                f"themselves are not read as weights)")
    if steps(folder) or (folder / "_CHECKPOINT_METADATA").exists():
        return (f"{folder} is a folder, not a weights file: a training checkpoint folder (orbax) holds optimizer "
                f"state; pass the training workdir, whose {MODEL_FILE} the trainer writes")
    return (f"{folder} is a folder, not a weights file, and holds no {name} (expected .pth/.pt/.pkl, "
            f".safetensors or MatConvNet .mat, or a training workdir holding {MODEL_FILE} / {BEST_FILE})")


def read_metadata(path, what: str = "--weights") -> dict:
    """The metadata of safetensors file `path`, values JSON-decoded (a value that is not JSON stays a string).

    Reads only the header; a file too short or whose header is not safetensors JSON -> ValueError."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size_bytes = f.read(8)
            size = struct.unpack("<Q", size_bytes)[0] if len(size_bytes) == 8 else -1
            if not 0 < size <= _MAX_HEADER:
                raise ValueError("no safetensors header")
            header = json.loads(f.read(size).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{what}: cannot read {path} as safetensors ({err})") from None
    return decode_metadata((header.get("__metadata__") or {}) if isinstance(header, dict) else {})


def decode_metadata(raw: Mapping) -> dict:
    """safetensors metadata (str -> str) with each value JSON-decoded; a value that is not JSON stays a string."""
    out = {}
    for key, value in raw.items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def recorded_model(meta: Mapping) -> str | None:
    """The model name a model file's metadata records, or None."""
    name = meta.get("model")
    return name if isinstance(name, str) and name else None


def recorded_kwargs(meta: Mapping) -> dict:
    """The constructor arguments a model file's metadata records ({} when none)."""
    kwargs = meta.get("kwargs")
    if isinstance(kwargs, str):  # convert stores kwargs as a JSON string inside the JSON-encoded metadata
        try:
            kwargs = json.loads(kwargs)
        except ValueError:
            return {}
    return dict(kwargs) if isinstance(kwargs, dict) else {}


def resolve_model(model: str | None, weights, *, model_flag: str = "--model",
                  weights_flag: str = "--weights") -> tuple[str, Path | None, dict]:
    """(model name, weights file or None, its metadata) from a --model / --weights pair, either may be None.

    The name is `model` when given, else what the weights file records. Errors (ValueError, one line): neither
    gives a name; `model` and the recorded name differ (both named)."""
    file, meta = resolve_weights(weights, weights_flag) if weights is not None else (None, {})
    recorded = recorded_model(meta)
    if model is None:
        if recorded is None:
            where = (f"{file} does not record one (only model files written by `jrestore convert` or the trainer "
                     f"do)" if file is not None else f"no {weights_flag} file records one")
            raise ValueError(f"{model_flag}: the model name is needed: {where}; pass {model_flag} NAME")
        return recorded, file, meta
    if recorded is not None and recorded != model:
        raise ValueError(f"{model_flag}: {model!r} differs from the model {recorded!r} that {file} records (given as "
                         f"{weights_flag}); drop {model_flag} or pass weights of {model}")
    return model, file, meta


# ---- state dicts (shared by jrestore.convert.checkpoints and torch_ref.load) ----

def is_tensor(value) -> bool:
    """A NumPy array or a torch tensor (recognised without importing torch)."""
    return isinstance(value, np.ndarray) or type(value).__module__.startswith("torch") and hasattr(value, "shape")


def unwrap_state_dict(state, path: str, what: str = "weights", param_key: str | None = None) -> dict:
    """The tensor dict inside a checkpoint object: BasicSR / KAIR wrappers removed, 'module.' stripped.

    param_key: the wrapper key to take ('params', 'params_ema', 'state_dict', or any other); None takes the
    first of WRAPPER_KEYS present, or `state` itself when it already maps names to tensors.
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"{what}: {path} holds a {type(state).__name__}, expected a state dict "
                         f"(a mapping of parameter names to tensors)")
    if param_key is not None:
        if param_key not in state:
            raise ValueError(f"{what}: {path} has no key {param_key!r} (--param-key); keys present: "
                             f"{sorted(map(str, state))[:12]}")
        state = state[param_key]
    else:
        key = next((k for k in WRAPPER_KEYS if k in state and isinstance(state[k], Mapping)), None)
        if key is not None:
            state = state[key]
    if not isinstance(state, Mapping):
        raise ValueError(f"{what}: {path}[{param_key!r}] holds a {type(state).__name__}, expected a state dict")
    bad = next((k for k, v in state.items() if not is_tensor(v)), None)
    if bad is not None:
        raise ValueError(f"{what}: {path}: key {bad!r} holds a {type(state[bad]).__name__}, not a tensor (a "
                         f"training checkpoint? pick its weights with param_key / --param-key; keys present: "
                         f"{sorted(map(str, state))[:12]})")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
