"""Export jrestore models to serialised StableHLO (`jax.export`) that reloads and runs without the model code.

    exported = export_model(model, (1, 64, 64, 3))            # symbolic batch (and H, W where admitted)
    save_exported(exported, "out/", meta, params=model_params(model))
    fn, meta = load_exported("out/")                          # fn(x) -> the model's output
    fn(x)                                                     # x: [B, H, W, C] float32 in [0, 1]

Design:
- **Parameters are an argument, not constants.** The exported function is `f(params, x[, sigma])`
  with `params` the model's flat NNX state {'body.0.weight': array, ...} (every Variable, including
  BatchNorm statistics and non-persistent constants such as ISTA-Net's Phi). Closed-over constants let
  XLA constant-fold parameter arithmetic (BatchNorm scales, Phi^T Phi), which changed outputs by up to
  1.2e-2 (classical ISTA) and 1.2e-5 (ISTA-Net+, SRResNet) against the live jitted model; as an argument
  the exported computation is the live one, and reloaded outputs are bit-identical. It also keeps the
  StableHLO small (no 2 GB protobuf limit) and lets the same file run other weights of the same
  architecture. The parameters travel beside it as `params.safetensors` (jrestore layout, HWIO).
- **Shapes.** The batch is always symbolic ('b'); H and W are symbolic where the model's shape logic
  admits it, as multiples `m*h, m*w` with the smallest m in 1, 2, 4, ..., 32 that traces (FFDNet and
  the two-scale enhancer need even sizes, the U-Net 2**depth). Where nothing symbolic traces (WASA's
  bicubic skip builds its weights from concrete sizes; the SRGAN discriminator and VGG-like fixed
  sizes) the export falls back to batch-only, then to the concrete example shape, and `meta.json`
  records what was tried and why it failed.
- **Platforms.** Lowered for cpu, cuda and tpu at once (jax lowers for platforms it does not have), so
  a file written on a CPU machine runs on accelerators; only cpu is tested here.
- **Inputs and outputs.** FFDNet takes its noise level as a second input `sigma` [b, 1, 1, 1] (one level
  per image, the model's own array form). The compressed-sensing models (ista_net, ista_net_plus, ista,
  admm) return only the reconstruction [N, bs, bs, 1]; their per-phase symmetry losses are training
  terms. VGG returns its default taps {name: [B, h, w, c]}.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import jax
import jax.numpy as jnp
from jax import export as jax_export
from flax import nnx

from jrestore._io import write_files_atomically  # noqa: F401 (public here since before _io)
from jrestore.runtime import use_conv_backend

__all__ = ["model_spec", "export_model", "save_exported", "load_exported", "model_params", "default_input_shape",
           "input_names", "other_shape", "describe_inputs", "describe_outputs", "inference_fn", "write_files_atomically", "EXPORT_PLATFORMS",
           "STABLEHLO_FILE", "PARAMS_FILE", "META_FILE", "FORMAT_VERSION"]

EXPORT_PLATFORMS = ("cpu", "cuda", "tpu")
STABLEHLO_FILE, PARAMS_FILE, META_FILE = "model.stablehlo", "params.safetensors", "meta.json"
FORMAT_VERSION = 1
SPATIAL_MULTIPLES = (1, 2, 4, 8, 16, 32)
SYMBOLIC_NAMES = ("batch", "height", "width")


# ---- what a model takes and returns: read from its spec (jrestore.core.spec) ----

def model_spec(model):
    """The spec of a registered jrestore model instance (plugins included)."""
    from jrestore.core.spec import get_spec
    from jrestore.models import MODELS
    return get_spec(MODELS.name_of(model))


def input_names(model) -> tuple[str, ...]:
    """The exported function's inputs after `params`: 'x', then the spec's extra inputs ('sigma' for FFDNet)."""
    return ("x", *(e.name for e in model_spec(model).extra_inputs))


def default_input_shape(model, kwargs: Mapping | None = None) -> tuple[int, int, int, int]:
    """An admissible example [B, H, W, C] for `model` built with `kwargs`: the size its spec requires (CS
    blocks, a discriminator's input size), else 64x64; the channels its spec reads from the arguments."""
    from jrestore.models import MODELS

    spec = model_spec(model)
    kw = MODELS.resolve(MODELS.name_of(model), dict(kwargs or {}))
    h, w = spec.example_hw(kw) if spec.example_hw is not None else (64, 64)
    return (1, int(h), int(w), spec.channels(kw))


def model_params(model: nnx.Module) -> dict[str, np.ndarray]:
    """The model's whole NNX state as {dotted path: array} (the exported function's first argument)."""
    _, state = nnx.split(model)
    out = {}
    for path, var in nnx.to_flat_state(state):
        value = var.get_value()
        if not isinstance(value, (jax.Array, np.ndarray)) or jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
            raise ValueError(f"model: state leaf {'.'.join(map(str, path))!r} is a {type(value).__name__} "
                             f"({getattr(value, 'dtype', '')}), not an exportable array")
        out[".".join(str(p) for p in path)] = np.asarray(value)
    return out


def inference_fn(model: nnx.Module) -> Callable:
    """f(params: {path: array}, *inputs) -> output: a pure function of the flat state (eval mode)."""
    model.eval()  # BatchNorm from running statistics, no dropout
    graphdef, state = nnx.split(model)
    flat = list(nnx.to_flat_state(state))
    block_cs = model_spec(model).kind == "cs"

    def f(params, *inputs):
        leaves = [(path, var.replace(params[".".join(str(p) for p in path)])) for path, var in flat]
        out = nnx.merge(graphdef, nnx.from_flat_state(leaves))(*inputs)
        return out[0] if block_cs else out  # CS: (x_rec, symloss) -> x_rec

    return f


# ---- symbolic shapes ----

def _dim_text(d) -> str | int:
    return d if isinstance(d, int) else str(d).replace(" ", "")


def describe_outputs(exported: jax_export.Exported):
    """The output pytree with {'shape', 'dtype'} leaves (symbolic dims as strings)."""
    return jax.tree.map(lambda a: {"shape": [_dim_text(d) for d in a.shape], "dtype": str(a.dtype)},
                        jax.tree.unflatten(exported.out_tree, exported.out_avals))


def _candidates(input_shape: Sequence[int], symbolic) -> list[tuple[str, tuple[str, ...], int]]:
    """(shape spec, symbolic names, spatial multiple) to try, most general first; '' = concrete."""
    b, h, w, c = input_shape
    if symbolic is None:
        return [("", (), 1)]
    if symbolic == "auto":
        wanted = [SYMBOLIC_NAMES, ("batch",), ()]
    else:
        symbolic = tuple(symbolic)
        bad = [s for s in symbolic if s not in SYMBOLIC_NAMES]
        if bad:
            raise ValueError(f"symbolic: expected names from {list(SYMBOLIC_NAMES)}, 'auto' or None, got {bad}")
        wanted = [symbolic]
    out = []
    for names in wanted:
        if not names:
            out.append(("", (), 1))
            continue
        multiples = SPATIAL_MULTIPLES if ("height" in names or "width" in names) else (1,)
        for m in multiples:
            if ("height" in names and h % m) or ("width" in names and w % m):
                continue
            dims = ["b" if "batch" in names else str(b),
                    (f"{m}*h" if m > 1 else "h") if "height" in names else str(h),
                    (f"{m}*w" if m > 1 else "w") if "width" in names else str(w), str(c)]
            out.append((", ".join(dims), names, m))
    return out


def _arg_specs(model, spec: str, input_shape: Sequence[int]) -> list[jax.ShapeDtypeStruct]:
    shape = jax_export.symbolic_shape(spec) if spec else tuple(input_shape)
    args = [jax.ShapeDtypeStruct(shape, jnp.float32)]
    for extra in model_spec(model).extra_inputs:  # per image: the same symbolic b
        args.append(jax.ShapeDtypeStruct((shape[0], *extra.shape), jnp.float32))
    return args


def export_model(model: nnx.Module, input_shape: Sequence[int], *, symbolic="auto",
                 platforms: Sequence[str] = EXPORT_PLATFORMS, log: list | None = None) -> jax_export.Exported:
    """Export `model`'s eval-mode inference as f(params, x[, sigma]) -> output.

    Args:
      model: a jrestore model (put in eval mode).
      input_shape: example (B, H, W, C) the model accepts; it is checked first, so an inadmissible shape
        raises the model's own ValueError (e.g. odd H for wasa).
      symbolic: 'auto' (all of batch, height, width that trace, falling back to batch only, then the
        concrete shape), a tuple of names from ('batch', 'height', 'width') (exactly those, or the
        error), or None (concrete).
      platforms: lowering platforms.
      log: if a list, gets one {'spec', 'symbolic', 'error'} dict per failed attempt.
    Returns: the jax.export.Exported; call it as `exported.call(model_params(model), x)`.
    """
    # Portable StableHLO: trace with XLA's convolutions, never jrestore's CPU-only oneDNN custom calls. The whole
    # export is inside, because JAX reuses the trace of eval_shape's shape for the export's jit.
    with use_conv_backend("xla"):
        return _export_model(model, input_shape, symbolic, platforms, log)


def _export_model(model, input_shape, symbolic, platforms, log):
    if len(tuple(input_shape)) != 4 or not all(isinstance(d, (int, np.integer)) and d >= 1 for d in input_shape):
        raise ValueError(f"input_shape: expected four positive sizes (B, H, W, C), got {tuple(input_shape)!r}")
    input_shape = tuple(int(d) for d in input_shape)
    fn = inference_fn(model)
    params = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in model_params(model).items()}
    # the concrete example first: a shape the model refuses is the caller's error, not a reason to fall back
    jax.eval_shape(fn, params, *_arg_specs(model, "", input_shape))
    candidates = _candidates(input_shape, symbolic)
    for i, (spec, names, _) in enumerate(candidates):
        try:
            return jax_export.export(jax.jit(fn), platforms=tuple(platforms))(params, *_arg_specs(model, spec, input_shape))
        except Exception as err:  # shape logic that needs concrete sizes: inconclusive comparisons, float(h), ...
            if i == len(candidates) - 1:
                if spec:
                    raise ValueError(f"symbolic: cannot export {type(model).__name__} with shape [{spec}] "
                                     f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
                raise
            if log is not None:
                log.append({"spec": spec or str(list(input_shape)), "symbolic": list(names),
                            "error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"})
    raise AssertionError("unreachable")  # pragma: no cover


def describe_inputs(exported: jax_export.Exported, names: Sequence[str]) -> list[dict]:
    """[{'name', 'shape' (ints, or strings such as 'b', '2*h'), 'dtype'}] of the inputs after params."""
    avals = exported.in_avals[len(exported.in_avals) - len(names):]
    return [{"name": n, "shape": [_dim_text(d) for d in a.shape], "dtype": str(a.dtype)} for n, a in zip(names, avals)]


def _bind(spec_shape: Sequence, shape: Sequence[int], env: dict, name: str) -> None:
    """Check `shape` against a meta shape (ints and 'b' / 'm*h' strings), binding symbols in `env`."""
    text = "[" + ", ".join(str(d) for d in spec_shape) + "]"
    if len(shape) != len(spec_shape):
        raise ValueError(f"{name}: this export takes shape {text}, got {tuple(shape)}")
    for want, got in zip(spec_shape, shape):
        if isinstance(want, int):
            ok = want == got
        else:
            m = re.fullmatch(r"(?:(\d+)\*)?([A-Za-z_]\w*)", want)
            if m is None:  # pragma: no cover - export_model only writes these two forms
                raise ValueError(f"{name}: unsupported dimension {want!r} in meta.json")
            mult, var = int(m.group(1) or 1), m.group(2)
            ok = got % mult == 0 and got >= mult and env.setdefault(var, got // mult) == got // mult
        if not ok:
            raise ValueError(f"{name}: this export takes shape {text} (symbols >= 1, shared symbols equal), "
                             f"got {tuple(shape)}")


def other_shape(meta: dict) -> tuple[int, ...] | None:
    """A second admissible x shape (each symbol one larger than in the example), or None if all concrete."""
    x = meta["inputs"][0]
    example = x["example"]
    if all(isinstance(d, int) for d in x["shape"]):
        return None
    out = []
    for want, got in zip(x["shape"], example):
        if isinstance(want, int):
            out.append(want)
        else:
            mult = int(want.split("*")[0]) if "*" in want else 1
            out.append(got + mult)
    return tuple(out)


# ---- files ----

def save_exported(exported: jax_export.Exported, out_dir, meta: dict, *, params: Mapping[str, np.ndarray],
                  overwrite: bool = False, extra: Mapping[str, Callable[[Path], None]] | None = None) -> dict[str, int]:
    """Write out_dir/model.stablehlo (exported.serialize()), params.safetensors and meta.json (+ `extra` files).

    `meta` is written as given plus 'format_version', 'platforms', 'jax_version' and 'params' (file name,
    count); returns {file name: size in bytes}.
    """
    from safetensors.numpy import save_file

    meta = {**meta, "format_version": FORMAT_VERSION, "platforms": list(exported.platforms),
            "jax_version": jax.__version__, "params": {"file": PARAMS_FILE, "count": len(params)}}
    blob = exported.serialize()

    def write_bytes(data: bytes) -> Callable[[Path], None]:
        return lambda path: path.write_bytes(data)

    writers = {
        STABLEHLO_FILE: write_bytes(bytes(blob)),
        PARAMS_FILE: lambda path: save_file({k: np.ascontiguousarray(v) for k, v in params.items()}, str(path)),
        **(extra or {}),
        META_FILE: write_bytes((json.dumps(meta, indent=2, default=str) + "\n").encode()),
    }
    return write_files_atomically(out_dir, writers, overwrite=overwrite, last=META_FILE)


def load_exported(out_dir) -> tuple[Callable, dict]:
    """(fn, meta) from a folder written by save_exported; fn(x[, sigma]) runs the StableHLO with its params.

    fn checks every input against meta's shapes ('b', '2*h' ...) and raises one ValueError naming the
    input, the admissible shape and the one given; floating inputs are cast to float32.
    """
    from safetensors.numpy import load_file

    out_dir = Path(out_dir)
    for name in (STABLEHLO_FILE, PARAMS_FILE, META_FILE):
        if not (out_dir / name).is_file():
            raise FileNotFoundError(f"out_dir: {out_dir} has no {name} (not a `jrestore export` folder?)")
    meta = json.loads((out_dir / META_FILE).read_text())
    exported = jax_export.deserialize(bytearray((out_dir / STABLEHLO_FILE).read_bytes()))
    stored = load_file(str(out_dir / PARAMS_FILE))
    want = jax.tree.unflatten(exported.in_tree, exported.in_avals)[0][0]  # ((params, *inputs), {})
    if sorted(stored) != sorted(want):
        missing, extra = sorted(set(want) - set(stored)), sorted(set(stored) - set(want))
        raise ValueError(f"out_dir: {PARAMS_FILE} does not fit {STABLEHLO_FILE}: missing {missing[:5]}, unexpected {extra[:5]}")
    # safetensors stores 0-d arrays (BatchNorm's num_batches_tracked) as shape (1,): restore the exported shapes
    params = {k: jnp.asarray(v).reshape(want[k].shape) for k, v in stored.items()}
    inputs = meta["inputs"]
    call = jax.jit(exported.call)

    def fn(*args):
        if len(args) != len(inputs):
            raise ValueError(f"inputs: this export takes {[i['name'] for i in inputs]}, got {len(args)} argument(s)")
        env, cast = {}, []
        for spec, a in zip(inputs, args):
            if not jnp.issubdtype(getattr(a, "dtype", np.asarray(a).dtype), jnp.floating):
                raise ValueError(f"{spec['name']}: expected a floating-point array, got dtype {getattr(a, 'dtype', type(a).__name__)}")
            _bind(spec["shape"], np.shape(a), env, spec["name"])
            cast.append(jnp.asarray(a, spec["dtype"]))
        return call(params, *cast)

    return fn, meta
