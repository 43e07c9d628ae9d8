"""`torch_ref.load(path)`: a ready torch_ref model (eval mode) from a weights file or a training workdir.

    model = torch_ref.load("runs/dncnn")                     # WORKDIR/model.safetensors, model named by it
    model = torch_ref.load("runs/dncnn:best")                # WORKDIR/best.safetensors
    model = torch_ref.load("dncnn_25.pth", model="dncnn")    # a file that does not record its model

No JAX: .safetensors is read with safetensors.torch, .pth / .pt / .pkl with torch.load(weights_only=True),
and the metadata and argument inference come from jrestore's framework-neutral core (jrestore.core). A
MatConvNet .mat file is converted first (`jrestore convert`), since its reader lives on the JAX side.
"""
from __future__ import annotations

from pathlib import Path

import torch

from jrestore.core.model_file import recorded_kwargs, resolve_model, unwrap_state_dict
from jrestore.core.spec import get_spec

__all__ = ["load"]


def _read_state(file: Path, param_key: str | None) -> dict:
    suffix = file.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            state = load_file(str(file))
        except Exception as err:  # truncated, not safetensors
            raise ValueError(f"path: cannot read {file} as safetensors ({type(err).__name__}: {err})") from None
    elif suffix == ".mat":
        raise ValueError(f"path: {file} is a MatConvNet file; convert it first (jrestore convert --weights {file} "
                         f"--model dncnn --out dncnn.safetensors)")
    else:
        try:
            state = torch.load(str(file), weights_only=True, map_location="cpu")
        except Exception as err:  # a pickle needing arbitrary code, truncation, not a torch file
            first = next((ln for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
            raise ValueError(f"path: cannot load {file} with torch.load(weights_only=True) ({first[:200]})") from None
    return unwrap_state_dict(state, str(file), "path", param_key)


def load(path, model: str | None = None, *, param_key: str | None = None, **overrides) -> torch.nn.Module:
    """The torch_ref model stored at `path`, weights loaded (strict), in eval mode.

    Args:
      path: .safetensors or .pth/.pt/.pkl, or a training workdir (WORKDIR -> WORKDIR/model.safetensors,
        WORKDIR:best -> best.safetensors).
      model: the registry name; needed only when the file does not record it (must match when it does).
      param_key: the checkpoint entry holding the weights (default: params_ema, params or state_dict if present).
      **overrides: constructor arguments that win over the recorded and inferred ones.
    Constructor arguments: recorded in the file, then inferred from the tensors' shapes, then `overrides`.
    """
    import torch_ref.models

    name, file, meta = resolve_model(model, path, model_flag="model", weights_flag="path")
    spec = get_spec(name)
    state = spec.rename_keys(_read_state(file, param_key))
    kwargs = {**recorded_kwargs(meta), **spec.infer_kwargs(state), **overrides}
    net = torch_ref.models.get(name, **kwargs)
    state = {k: torch.as_tensor(v) for k, v in spec.adapt_state(state, kwargs).items()}  # the spec's state_rule
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), "")
        raise ValueError(f"path: {file} does not fit torch_ref {name} {kwargs}: {first[:300]}") from None
    return net.eval()
