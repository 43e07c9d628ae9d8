"""Reading weight files into PyTorch-layout state dicts, safely, and writing safetensors.

`load_state_dict_file(path)` -> {torch key: torch.Tensor}, whatever the format:
- PyTorch pickles (.pth / .pt / .pkl / anything else) only through `torch.load(weights_only=True)`, so a
  file that needs arbitrary code to unpickle is refused;
- .safetensors through safetensors (no pickle at all);
- .mat: the official DnCNN MatConvNet models (`jrestore.convert.matconvnet`), MATLAB v7.3 or v5.
Wrappers are unwrapped: BasicSR's {'params': sd, 'params_ema': sd} (`param_key`, by default 'params_ema'
when present, else 'params'), KAIR's and others' {'state_dict': sd}; nn.DataParallel's 'module.' prefixes
are stripped. The result feeds `load_torch_state_dict` (jrestore) or `Module.load_state_dict` (torch_ref).

`save_safetensors(state_dict, path, metadata)` writes atomically (a temporary file in the same folder,
then os.replace), so a reader never sees a partial file; `read_safetensors_metadata(path)` reads the
metadata back. Metadata values are stored JSON-encoded (safetensors only holds strings).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

__all__ = ["load_state_dict_file", "save_safetensors", "read_safetensors_metadata", "unwrap_state_dict",
           "WRAPPER_KEYS"]

# checkpoint wrappers, in the order `param_key=None` tries them (EMA weights first, as BasicSR tests them)
WRAPPER_KEYS = ("params_ema", "params", "state_dict")


def _one_line(err: BaseException, limit: int = 240) -> str:
    """The first non-empty line of an exception message (torch's are paragraphs), shortened."""
    text = str(err).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return (line[:limit] + "...") if len(line) > limit else line


def _is_tensor(value) -> bool:
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
    bad = next((k for k, v in state.items() if not _is_tensor(v)), None)
    if bad is not None:
        raise ValueError(f"{what}: {path}: key {bad!r} holds a {type(state[bad]).__name__}, not a tensor (a "
                         f"training checkpoint? pick its weights with param_key / --param-key; keys present: "
                         f"{sorted(map(str, state))[:12]})")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _torch_load(path: str, what: str):
    import torch

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # a pickle needing arbitrary code, truncation, not a torch file at all
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        if found:
            raise ValueError(f"{what}: refusing {path}: unpickling it would run arbitrary code (it needs "
                             f"{found.group(1)}); only weights_only=True loads are allowed") from None
        raise ValueError(f"{what}: cannot load {path} safely with torch.load(weights_only=True) "
                         f"({type(err).__name__}: {_one_line(err)})") from None


def load_state_dict_file(path, what: str = "weights", param_key: str | None = None) -> dict:
    """A PyTorch state dict {key: torch.Tensor} from `path` (any format above), never unpickling code.

    Errors (one line each, naming `what` and the file): missing file -> FileNotFoundError; a pickle that
    needs arbitrary code, a truncated or corrupt file, a non-dict, a missing `param_key` -> ValueError.
    """
    import torch

    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what}: no such file {path}")
    suffix = Path(path).suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file
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
        state = {k: torch.from_numpy(v) for k, v in arrays.items()}
    else:
        state = _torch_load(path, what)
    return unwrap_state_dict(state, path, what, param_key)


# ---- safetensors ----

def _atomic_path(path: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the final file gets a normal file's permissions
    return tmp


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
    tmp = _atomic_path(path)
    try:
        if torch_values:  # keeps dtypes numpy lacks (bfloat16)
            import torch
            from safetensors.torch import save_file
            tensors = {k: (torch.from_numpy(np.array(v, copy=True)) if isinstance(v, np.ndarray)
                           else v.detach().cpu().clone().contiguous()) for k, v in state_dict.items()}
        else:
            from safetensors.numpy import save_file
            tensors = {k: np.array(v, copy=True, order="C") for k, v in state_dict.items()}
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except (TypeError, ValueError):
            out[k] = v
    return out
