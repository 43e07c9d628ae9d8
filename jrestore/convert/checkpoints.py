"""Reading weight files into PyTorch-layout state dicts, safely.

`load_state_dict_file(path)` -> {torch key: tensor}: PyTorch pickles (.pth / .pt / .pkl) through
`torch.load(weights_only=True)` only, so a file that needs arbitrary code is refused; .safetensors through
safetensors. A {'state_dict': ...} wrapper is unwrapped and nn.DataParallel's 'module.' prefixes are
stripped. The result feeds `load_torch_state_dict` (jrestore) or `Module.load_state_dict` (torch_ref).
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["load_state_dict_file"]


def load_state_dict_file(path, what: str = "weights") -> dict:
    """A PyTorch state dict from `path`, never unpickling arbitrary code; 'module.' prefixes stripped.

    Errors (one line each, naming `what` and the file): missing file -> FileNotFoundError; a pickle that
    needs arbitrary code, a truncated or non-torch file -> ValueError.
    """
    import torch

    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what}: no such file {path}")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        try:
            state = load_file(path)
        except Exception as err:  # truncated header, not a safetensors file
            raise ValueError(f"{what}: cannot read {path} as safetensors ({type(err).__name__}: {err})") from None
    else:
        try:
            state = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as err:  # pickle needing arbitrary code, truncation, not a torch file
            raise ValueError(f"{what}: cannot load {path} safely with weights_only=True "
                             f"({type(err).__name__}: {err})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{what}: {path} holds a {type(state).__name__}, expected a state dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
