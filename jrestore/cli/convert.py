"""`jrestore convert`: any supported weights file -> a verified safetensors file in PyTorch layout.

    jrestore convert --model dncnn --weights sigma=25.mat --out dncnn_25.safetensors
    jrestore convert --model srresnet --weights net_g.pth --param-key params --out srresnet.safetensors
    jrestore convert --weights runs/dncnn:best --out dncnn_best.safetensors   # a training run's best weights

Steps: read --weights safely (`load_state_dict_file`: .pth / .pt / .pkl with weights_only=True, .safetensors,
DnCNN MatConvNet .mat; BasicSR / KAIR wrappers unwrapped); infer the constructor arguments from the
weights (`infer_kwargs`), then apply --set; load into the jrestore model (`load_torch_state_dict`: a
mismatch names the file, the first key and both shapes) and into the torch_ref model; write the jrestore
model's state as safetensors (`save_model_file`: keys and dtypes of the torch_ref state dict) with metadata
{model, kwargs, source, format}; reload that file in both frameworks (no pickle) and check that both give exactly the
outputs of the originals on a small random input (`--framework jax`: the JAX side only, no torch needed).
The file is written to a temporary name in the same folder and renamed into place only after that check,
so --out never holds a partial or unverified file.
Exit status: 0 converted, 1 the reloaded outputs differ (nothing written), 2 bad input.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from jrestore.core.model_file import FORMAT  # noqa: F401  (kept importable from here)


def add_parser(p):
    p.add_argument("--model", help="registered model name (see `jrestore.models.names()`); optional when "
                                    "--weights is a model file or training workdir that records it")
    p.add_argument("--weights", required=True,
                   help="input: .pth/.pt/.pkl (weights_only=True), .safetensors, a DnCNN MatConvNet .mat, or a "
                        "training workdir (its model.safetensors; WORKDIR:best for best.safetensors)")
    p.add_argument("--out", required=True, help="output .safetensors file (PyTorch layout)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="constructor argument, overriding the inferred one (repeatable)")
    p.add_argument("--param-key", default=None,
                   help="checkpoint entry holding the weights (default: params_ema, params or state_dict when present)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--seed", type=int, default=0, help="seed of the random check input")
    p.add_argument("--framework", choices=("both", "jax"), default="both",
                   help="both: also load and check the torch_ref model (needs torch); jax: JAX only (no torch needed; "
                        "PyTorch's dtypes are kept: int64 BatchNorm counters, the rest as read)")


def _flat(out, torch_side: bool) -> list:
    """Model outputs (array, tuple, dict) as a flat list of NHWC NumPy arrays."""
    import numpy as np

    if isinstance(out, dict):
        return [a for k in sorted(out) for a in _flat(out[k], torch_side)]
    if isinstance(out, (tuple, list)):
        return [a for v in out for a in _flat(v, torch_side)]
    if torch_side:
        a = out.detach().cpu().numpy()
        return [a.transpose(0, 2, 3, 1) if a.ndim == 4 else a]
    return [np.asarray(out)]


def _run_jax(model, inputs) -> list:
    import jax.numpy as jnp

    model.eval()
    return _flat(model(*[jnp.asarray(x) for x in inputs]), False)


def _run_torch(model, inputs) -> list:
    import numpy as np
    import torch

    model.eval()
    with torch.no_grad():
        args = [torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if x.ndim == 4 else x)) for x in inputs]
        return _flat(model(*args), True)


def _max_diff(a: list, b: list) -> float:
    import numpy as np

    return max((float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0)
               for x, y in zip(a, b))


def _build(name: str, kwargs: dict, state: dict, source: str, with_torch: bool = True):
    """(jrestore model, torch_ref model or None without `with_torch`), both loaded from `state`; a mismatch
    names `source`, key and shapes."""
    import jrestore.models
    from jrestore.convert import load_torch_state_dict
    from jrestore.convert.checkpoints import _one_line

    jm = jrestore.models.get(name, **kwargs)
    load_torch_state_dict(jm, state, source=source)
    if not with_torch:
        return jm, None
    import torch_ref.models

    tm = torch_ref.models.get(name, **kwargs)
    try:
        tm.load_state_dict(state, strict=True)
    except RuntimeError as err:  # jrestore accepted it, so this would be a torch_ref naming difference
        raise ValueError(f"{source} does not load into torch_ref {name}: {_one_line(err)}") from None
    return jm, tm


class _NotReproduced(Exception):
    """The file as written does not reproduce the converted model's outputs (it is not kept)."""


def run(args) -> int:
    import numpy as np

    import jrestore.models
    from jrestore._io import check_output_folder
    from jrestore.cli.verify import parse_sets, pin_full_precision
    from jrestore.convert.architecture import infer_kwargs
    from jrestore.core.spec import get_spec
    from jrestore.convert.checkpoints import (load_state_dict_file, model_file_arrays, read_safetensors_metadata,
                                              save_model_file)
    from jrestore.core.model_file import recorded_kwargs, resolve_model

    pin_full_precision()
    args.model, weights_file, recorded = resolve_model(args.model, args.weights)
    jrestore.models.MODELS.lookup(args.model)  # unknown name: one clear error listing the valid ones
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ValueError(f"--out: {out} already exists; pass --overwrite to replace it")
    if out.suffix != ".safetensors":
        raise ValueError(f"--out: expected a .safetensors file name, got {out}")
    check_output_folder(out.parent, "--out")  # before the weights load: a missing or read-only folder is one line

    state = load_state_dict_file(weights_file, what="--weights", param_key=args.param_key)
    spec = get_spec(args.model)
    state = spec.rename_keys(state)  # known foreign layouts (torchvision's VGG classifier and bare features)
    # what a model file records (FSRCNN's scale, which no tensor gives), then what the tensors determine
    inferred = {**recorded_kwargs(recorded), **infer_kwargs(args.model, state)}
    overrides = parse_sets(args.set)
    kwargs = {**inferred, **overrides}
    state = spec.adapt_state(state, kwargs)  # the spec's state_rule (FSRCNN prelu_split)
    source = f"--weights {args.weights}"
    with_torch = args.framework == "both"
    if with_torch:
        import torch

        torch.manual_seed(args.seed)
    jm, tm = _build(args.model, kwargs, state, source, with_torch)

    # the file: jrestore's state in PyTorch layout with PyTorch's dtypes (int64 counters), as the trainer writes it
    arrays = model_file_arrays(jm)
    if with_torch:  # the torch_ref twin must hold exactly these keys and dtypes, or its strict load would differ
        reference = tm.state_dict()
        if set(arrays) != set(reference):
            extra = sorted(set(arrays) ^ set(reference))
            raise ValueError(f"{args.model}: jrestore and torch_ref state-dict keys differ (first {extra[0]!r})")
        bad = next((k for k, ref in reference.items() if arrays[k].dtype != ref.numpy().dtype), None)
        if bad is not None:
            raise ValueError(f"{args.model}: {bad!r} is {arrays[bad].dtype} in jrestore but "
                             f"{reference[bad].numpy().dtype} in torch_ref")

    inputs = spec.example_inputs(jrestore.models.MODELS.resolve(args.model, kwargs), np.random.default_rng(args.seed))
    jax_before, torch_before = _run_jax(jm, inputs), (_run_torch(tm, inputs) if with_torch else [])

    from jrestore._io import atomic_write

    def write_verified(tmp: str) -> None:  # raising here leaves --out untouched and no temporary file
        save_model_file(tmp, jm, args.model, kwargs, source=os.path.basename(str(weights_file)))
        if with_torch:
            from safetensors.torch import load_file
        else:
            from safetensors.numpy import load_file
        jm2, tm2 = _build(args.model, kwargs, load_file(tmp), f"--out {out}", with_torch)
        jax_after, torch_after = _run_jax(jm2, inputs), (_run_torch(tm2, inputs) if with_torch else [])
        read_back = read_safetensors_metadata(tmp)
        same_jax = all(np.array_equal(a, b) for a, b in zip(jax_before, jax_after))
        same_torch = all(np.array_equal(a, b) for a, b in zip(torch_before, torch_after))
        if not (same_jax and same_torch) or read_back.get("model") != args.model:
            torch_diff = f", torch {_max_diff(torch_before, torch_after):.3e}" if with_torch else ""
            raise _NotReproduced(f"reloading {out} does not reproduce the outputs (jax "
                                 f"{_max_diff(jax_before, jax_after):.3e}{torch_diff}); nothing written")

    try:
        atomic_write(out, write_verified)
    except _NotReproduced as err:
        print(f"jrestore convert: error: {err}", file=sys.stderr)
        return 1

    if with_torch:
        n_params = sum(p.numel() for p in tm.parameters())
    else:
        import jax
        from flax import nnx

        n_params = sum(int(np.size(x)) for x in jax.tree.leaves(nnx.state(jm, nnx.Param)))
    print(f"converted {args.weights} -> {out}")
    print(f"  model       {args.model}")
    print(f"  kwargs      {kwargs}  (inferred {sorted(inferred)}, --set {sorted(overrides)})")
    print(f"  keys        {len(arrays)}  parameters {n_params:,}  bytes {out.stat().st_size:,}")
    print(f"  reload      {'jax and torch' if with_torch else 'jax'} outputs bit-identical to the originals on "
          f"input {[list(x.shape) for x in inputs]}")
    if with_torch:
        print(f"  max |jax - torch| {_max_diff(jax_before, torch_before):.3e}")
    return 0
