"""Reading weight files into PyTorch-layout state dicts, safely, and writing safetensors.

`load_state_dict_file(path)` -> {torch key: torch.Tensor}, whatever the format:
- PyTorch pickles (.pth / .pt / .pkl / anything else) only through `torch.load(weights_only=True)`, so a
  file that needs arbitrary code to unpickle is refused;
- .safetensors through safetensors (no pickle at all);
- .mat: the official DnCNN MatConvNet models (`jrestore.convert.matconvnet`), MATLAB v7.3 or v5.
Wrappers are unwrapped: BasicSR's {'params': sd, 'params_ema': sd} (`param_key`, by default 'params_ema'
when present, else 'params'), KAIR's and others' {'state_dict': sd}; nn.DataParallel's 'module.' prefixes
are stripped. The result feeds `load_torch_state_dict` (jrestore) or `Module.load_state_dict` (torch_ref).

`save_model_file(path, model, name, kwargs, **metadata)` writes a jrestore model as a *model file*: the
format `jrestore convert` writes and the trainer writes as WORKDIR/model.safetensors and best.safetensors,
whose metadata names the model, so `--weights FILE_OR_WORKDIR` needs no `--model` (jrestore.core.model_file).
`save_safetensors(state_dict, path, metadata)` writes atomically (`jrestore._io.atomic_write`), so a reader
never sees a partial file; `read_safetensors_metadata(path)` reads the
metadata back. Metadata values are stored JSON-encoded (safetensors only holds strings).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

import numpy as np

from jrestore._io import atomic_write
from jrestore.core.model_file import WRAPPER_KEYS, is_tensor as _is_tensor, resolve_weights, unwrap_state_dict

__all__ = ["load_state_dict_file", "save_safetensors", "save_model_file", "read_safetensors_metadata",
           "unwrap_state_dict", "WRAPPER_KEYS"]

def _one_line(err: BaseException, limit: int = 240) -> str:
    """The first non-empty line of an exception message (torch's are paragraphs), shortened."""
    text = str(err).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return (line[:limit] + "...") if len(line) > limit else line


# torch's weights_only refusal names the global the pickle wants; the wording changed across releases
# ("Unsupported global: GLOBAL m.f was not an allowed global" for classes, "Trying to load unsupported
# GLOBAL posix.system whose module posix is blocked" for os.system in torch 2.13)
_UNSAFE_GLOBAL = re.compile(r"unsupported (?:global:? )?GLOBAL ([\w.]+)", re.IGNORECASE)


def _torch_load(path: str, what: str):
    import pickle

    import torch

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # a pickle needing arbitrary code, truncation, not a torch file at all
        text = str(err)
        found = _UNSAFE_GLOBAL.search(text)
        if found or (isinstance(err, pickle.UnpicklingError) and "weights only load failed" in text.lower()):
            needs = f" (it needs {found.group(1)})" if found else ""
            raise ValueError(f"{what}: refusing {path}: it is a pickle that would run arbitrary code when loaded"
                             f"{needs}; not loaded (only torch.load(weights_only=True) is used). If you trust it, "
                             f"convert it to .safetensors with the PyTorch that made it") from None
        raise ValueError(f"{what}: cannot load {path} as a PyTorch weights file "
                         f"({type(err).__name__}: {_one_line(err)})") from None


def _check_values(state: Mapping, path: str, what: str) -> None:
    """Refuse weights that would run but give wrong images: NaN / Inf values, integer or bool parameters.

    Only BatchNorm's `num_batches_tracked` counters are integers in a real state dict.
    """
    try:
        import torch
    except ImportError:  # the optional `torch` extra is absent: the state holds NumPy arrays
        return _check_values_numpy(state, path, what)

    for key, value in state.items():
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
        if not (t.is_floating_point() or key.endswith("num_batches_tracked")):
            raise ValueError(f"{what}: {path}: key {key!r} holds {str(t.dtype).replace('torch.', '')} values; "
                             f"weights must be floating point (a corrupted or wrongly converted file?)")
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(f"{what}: {path}: key {key!r} holds {bad} non-finite value(s) (NaN or Inf) of "
                             f"{t.numel()}; these weights would give a meaningless image")


def _check_values_numpy(state: Mapping, path: str, what: str) -> None:
    """`_check_values` for NumPy arrays (no torch installed): the same refusals, the same messages."""
    for key, value in state.items():
        a = np.asarray(value)
        floating = np.issubdtype(a.dtype, np.floating)
        if not (floating or key.endswith("num_batches_tracked")):
            raise ValueError(f"{what}: {path}: key {key!r} holds {a.dtype} values; "
                             f"weights must be floating point (a corrupted or wrongly converted file?)")
        if floating and a.size and not bool(np.isfinite(a).all()):
            bad = int((~np.isfinite(a)).sum())
            raise ValueError(f"{what}: {path}: key {key!r} holds {bad} non-finite value(s) (NaN or Inf) of "
                             f"{a.size}; these weights would give a meaningless image")


def load_state_dict_file(path, what: str = "weights", param_key: str | None = None) -> dict:
    """A PyTorch state dict {key: torch.Tensor} from `path` (any format above), never unpickling code.

    path: a weights file, or a training workdir: WORKDIR reads WORKDIR/model.safetensors, WORKDIR:best
    WORKDIR/best.safetensors (`jrestore.core.model_file.resolve_weights`).

    Without torch (it is the optional `torch` extra) the values are NumPy arrays, and .safetensors and
    MatConvNet .mat files still load; a PyTorch pickle then needs torch (ValueError saying so).
    Errors (one line each, naming `what` and the file): missing file -> FileNotFoundError; a folder, a
    pickle that needs arbitrary code, a truncated or corrupt file, a non-dict, a missing `param_key`,
    NaN / Inf values, non-floating parameters -> ValueError.
    """
    try:
        import torch
    except ImportError:
        torch = None

    path = str(resolve_weights(path, what)[0])  # a training workdir (WORKDIR[:best]) -> its model file
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what}: no such file {path}")
    suffix = Path(path).suffix.lower()
    if suffix == ".safetensors":
        if torch is not None:
            from safetensors.torch import load_file
        else:
            from safetensors.numpy import load_file
        try:
            state = load_file(path)
        except Exception as err:  # truncated header, not a safetensors file
            raise ValueError(f"{what}: cannot read {path} as safetensors ({type(err).__name__}: {_one_line(err)})") from None
    elif suffix == ".mat":
        from jrestore.convert.matconvnet import read_matconvnet_dncnn
        try:
            arrays = read_matconvnet_dncnn(path)
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
        state = {k: torch.from_numpy(v) for k, v in arrays.items()} if torch is not None else dict(arrays)
    elif torch is None:
        raise ValueError(f"{what}: {path} is read as a PyTorch pickle, which needs torch (pip install "
                         f"'jrestore[torch]'); .safetensors and MatConvNet .mat weights load without it")
    else:
        state = _torch_load(path, what)
    state = unwrap_state_dict(state, path, what, param_key)
    _check_values(state, path, what)
    return state


# ---- safetensors ----

def save_safetensors(state_dict: Mapping, path, metadata: Mapping | None = None) -> None:
    """Write {key: numpy array | torch.Tensor} to `path` as safetensors, atomically.

    Tensors are saved as contiguous copies (safetensors refuses views and shared storage). Metadata values
    are JSON-encoded to strings; `read_safetensors_metadata` decodes them.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"no such folder {path.parent} for {path}")
    bad = next((k for k, v in state_dict.items() if not isinstance(k, str) or not _is_tensor(v)), None)
    if bad is not None:
        raise ValueError(f"{path}: key {bad!r} holds a {type(state_dict[bad]).__name__}; expected str keys and "
                         f"numpy arrays or torch tensors")
    meta = {str(k): json.dumps(v) for k, v in (metadata or {}).items()}
    torch_values = any(not isinstance(v, np.ndarray) for v in state_dict.values())

    def write(tmp: str) -> None:
        if torch_values:  # keeps dtypes numpy lacks (bfloat16)
            import torch
            from safetensors.torch import save_file
            tensors = {k: (torch.from_numpy(np.array(v, copy=True)) if isinstance(v, np.ndarray)
                           else v.detach().cpu().clone().contiguous()) for k, v in state_dict.items()}
        else:
            from safetensors.numpy import save_file
            tensors = {k: np.array(v, copy=True, order="C") for k, v in state_dict.items()}
        save_file(tensors, tmp, metadata=meta)

    atomic_write(path, write)


def read_safetensors_metadata(path) -> dict:
    """The metadata of a safetensors file, values JSON-decoded (a value that is not JSON stays a string)."""
    from safetensors import safe_open

    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file {path}")
    try:
        with safe_open(path, framework="np") as f:
            raw = f.metadata() or {}
    except Exception as err:
        raise ValueError(f"cannot read {path} as safetensors ({type(err).__name__}: {_one_line(err)})") from None
    from jrestore.core.model_file import decode_metadata
    return decode_metadata(raw)


def model_file_arrays(model) -> dict:
    """{PyTorch key: NumPy array} of a jrestore model, with the torch_ref state dict's dtypes: BatchNorm's
    `num_batches_tracked` counters int64 (as PyTorch holds them), every other tensor as jrestore holds it."""
    from jrestore.convert.torch_state import torch_state_dict

    # asarray, not ascontiguousarray, which would turn 0-d counters into shape (1,)
    return {k: np.asarray(v, dtype=np.int64 if k.endswith("num_batches_tracked") else None)
            for k, v in torch_state_dict(model).items()}


def _json_kwargs(kwargs: Mapping) -> tuple[dict, list[str]]:
    """(the constructor arguments JSON holds exactly, the names of those it cannot). NumPy scalars become
    Python numbers; arrays (ISTA-Net's Phi and Qinit, from .mat files) are left out rather than recorded as
    their repr, which would load back as a string: `load(path, phi=...)` passes them again."""
    recorded, left_out = {}, []
    for key, value in kwargs.items():
        value = value.item() if isinstance(value, np.generic) else value
        try:
            json.dumps(value)  # tuples are kept as lists; arrays and objects cannot be
        except (TypeError, ValueError):
            left_out.append(str(key))
            continue
        recorded[str(key)] = value
    return recorded, sorted(left_out)


def save_model_file(path, model, name: str, kwargs: Mapping, *, source: str | None = None,
                    recipe: str | None = None, step: int | None = None, val_psnr: float | None = None,
                    **metadata) -> Path:
    """Write jrestore `model` (registry name `name`, built with constructor arguments `kwargs`) as a model
    file at `path` (.safetensors), atomically; returns `path`.

    The tensors are the PyTorch-layout state dict (`model_file_arrays`), so torch_ref loads the file with
    `load_state_dict(strict=True)`. Metadata: model, kwargs (a JSON string, keys sorted; arguments JSON cannot
    hold, such as arrays, are named in kwargs_not_recorded instead), format, and source, recipe, step, val_psnr
    and any other `metadata` given (JSON-encodable values); None values are left out.
    The trainer calls it as save_model_file(WORKDIR / "model.safetensors", model, name, kwargs, recipe=...,
    step=..., val_psnr=...); `jrestore.load`, `torch_ref.load` and every `--weights` read it back.
    """
    from jrestore.core.model_file import FORMAT

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"path: expected a .safetensors file name, got {path}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected the model's registry name, got {name!r}")
    recorded, left_out = _json_kwargs(kwargs)
    extra = {"source": source, "recipe": recipe, "step": None if step is None else int(step),
             "val_psnr": None if val_psnr is None else float(val_psnr),
             "kwargs_not_recorded": left_out or None, **metadata}
    meta = {"model": name, "kwargs": json.dumps(recorded, sort_keys=True), "format": FORMAT,
            **{k: v for k, v in extra.items() if v is not None}}
    save_safetensors(model_file_arrays(model), path, meta)
    return path
