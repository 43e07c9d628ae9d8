"""`jrestore export`: a model as serialised StableHLO (+ params, meta.json), optionally also ONNX.

    jrestore export --model dncnn --weights dncnn_25.pth --out dncnn_export
    jrestore export --model wasa --set num_feat=16 --out wasa_export --shape 1,48,48,3 --onnx

Builds the jrestore model (constructor arguments: what `jrestore.convert.architecture.infer_kwargs` reads
from --weights, then --set; weights loaded by rule, else the default initialisation, which it says),
exports it with `jrestore.export` (symbolic batch, and H, W where the model admits them, unless
--concrete), writes OUT/model.stablehlo, OUT/params.safetensors, OUT/meta.json (and OUT/model.onnx from
the torch_ref twin holding the same weights, with --onnx), then reloads the files and compares them with
the live model at the example shape and one other admissible shape, printing max abs diffs and sizes.
Exit 0 when the reloaded StableHLO matches exactly and the ONNX file within 1e-5 * max(1, max|torch|).
An int8 file (`jrestore quantize`) as --weights exports its AQT int8 model (jax.export accepts AQT's graph:
symbolic batch, height and width; the int8 kernels and quantisation parameters in params.safetensors); --onnx
and --set are refused for it.
"""
from __future__ import annotations

import json
from pathlib import Path

from jrestore.cli.verify import parse_sets, pin_full_precision, resolve_model_flags
from jrestore.runtime import use_conv_backend

ONNX_FILE = "model.onnx"
ONNX_RTOL = 1e-5  # ONNX Runtime's kernels are not torch's: float32 summation order differs


def add_parser(p):
    p.add_argument("--model", help="registered model name (see `jrestore.models.names()`); optional when "
                                    "--weights records it (a model file or training workdir)")
    p.add_argument("--weights", help="weights file (.pth/.pt/.pkl with weights_only=True, .safetensors, MatConvNet "
                                      ".mat) or a training workdir (its model.safetensors; WORKDIR:best for "
                                      "best.safetensors)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="constructor argument (repeatable)")
    p.add_argument("--out", required=True, help="output folder (created; existing files need --overwrite)")
    p.add_argument("--shape", help="example input B,H,W,C (default: the model's, e.g. 1,64,64,C or 1,33,33,1)")
    p.add_argument("--concrete", action="store_true", help="export for exactly --shape (no symbolic dimensions)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx from the torch_ref twin")
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed when no --weights are given")


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"--shape: expected four positive integers B,H,W,C, got {text!r}")
    return shape


def _inputs(spec, shape, seed: int):
    """Example inputs: x uniform in [0, 1], then the spec's extra inputs at their example values (FFDNet: sigma
    25 per image)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.random(shape, dtype=np.float32)
    return [x] + [e.array(e.example, shape[0]) for e in spec.extra_inputs]


def _max_diff(a, b) -> float:
    import jax
    import numpy as np

    diffs = jax.tree.map(lambda u, v: float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) if np.size(u) else 0.0, a, b)
    return max(jax.tree.leaves(diffs), default=0.0)


def run(args) -> int:
    import jax
    import numpy as np
    from flax import nnx

    import jrestore.models
    from jrestore import export as jx
    from jrestore.convert import load_torch_state_dict, torch_state_dict
    from jrestore.convert.architecture import infer_kwargs
    from jrestore.convert.checkpoints import load_state_dict_file

    pin_full_precision()
    args.model, args.weights = resolve_model_flags(args.model, args.weights)
    from jrestore.core.quantize import is_int8_file

    if args.weights and is_int8_file(args.weights):
        return _export_int8(args)
    jrestore.models.MODELS.lookup(args.model)  # unknown name: one clear error listing valid names
    out = Path(args.out)
    written = [n for n in (jx.STABLEHLO_FILE, jx.PARAMS_FILE, jx.META_FILE) + ((ONNX_FILE,) if args.onnx else ())
               if (out / n).exists()]
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} exists and is not a directory")
    if written and not args.overwrite:  # before any work: refuse early, with one line
        raise ValueError(f"--out: {out} already holds {', '.join(written)}; pass --overwrite to replace them")
    from jrestore._io import check_output_folder
    check_output_folder(out, "--out", create=True)  # before the model loads: an unwritable --out is one line
    shape = parse_shape(args.shape) if args.shape else None

    weights = load_state_dict_file(args.weights, what="--weights") if args.weights else None
    inferred = {}
    if weights is not None:
        from jrestore.core.spec import get_spec
        weights = get_spec(args.model).rename_keys(weights)  # known foreign layouts (the spec's key_aliases)
        from jrestore.inference.tasks import _recorded_kwargs
        inferred = {**_recorded_kwargs(args.model, args.weights), **infer_kwargs(args.model, weights)}
    kwargs = {**inferred, **parse_sets(args.set)}
    if weights is not None:
        weights = get_spec(args.model).adapt_state(weights, kwargs)  # the spec's state_rule (FSRCNN prelu_split)
    _check_scale_known(args.model, kwargs, weights is not None)
    model = jrestore.models.get(args.model, **kwargs, rngs=nnx.Rngs(args.seed))
    if weights is not None:
        load_torch_state_dict(model, weights, source=args.weights)
        source = args.weights
    else:
        source = f"default initialisation (seed {args.seed}); pass --weights for trained weights"
    model.eval()
    shape = shape or jx.default_input_shape(model, kwargs)
    names = jx.input_names(model)
    spec = jx.model_spec(model)

    attempts = []
    exported = jx.export_model(model, shape, symbolic=None if args.concrete else "auto", log=attempts)
    inputs = jx.describe_inputs(exported, names)
    inputs[0]["example"] = list(shape)
    symbolic = list(dict.fromkeys(d for i in inputs for d in i["shape"] if isinstance(d, str)))  # in shape order
    meta = {
        "model": args.model,
        "kwargs": kwargs,
        "weights": args.weights,
        "inputs": inputs,
        "outputs": jx.describe_outputs(exported),
        "layout": "NHWC float32 in [0, 1]",
        "symbolic": symbolic,
        "concrete_requested": bool(args.concrete),
        "symbolic_fallbacks": attempts,
        "calling": "fn(params, *inputs) with params = params.safetensors as {path: array}; jrestore.export.load_exported binds them",
    }
    params = jx.model_params(model)
    extra, onnx_info = {}, {}
    if args.onnx:
        import torch
        import torch_ref.models
        from torch_ref.export import export_onnx

        tm = torch_ref.models.get(args.model, **kwargs)
        # the twin gets exactly the jrestore model's weights (the file's, or the default init's)
        tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in torch_state_dict(model).items()})
        tm.eval()
        example = tuple(torch.from_numpy(np.moveaxis(a, -1, 1).copy()) for a in _inputs(spec, shape, args.seed))
        extra[ONNX_FILE] = lambda path: onnx_info.update(export_onnx(tm, example, path))
    sizes = jx.save_exported(exported, out, meta, params=params, overwrite=args.overwrite, extra=extra)

    # reload what was written and compare with the live model
    fn, meta = jx.load_exported(out)
    # the live model as nnx.jit runs it: parameters as arguments (closed-over constants get folded by XLA)
    live_fn = jax.jit(jx.inference_fn(model))
    shapes = [tuple(shape)] + ([jx.other_shape(meta)] if jx.other_shape(meta) else [])
    checks = []
    for s in shapes:
        a = _inputs(spec, s, args.seed + 1)
        with use_conv_backend("xla"):  # as export traced it (never oneDNN's CPU-only custom calls)
            checks.append({"shape": list(s), "max_abs_diff": _max_diff(fn(*a), live_fn(params, *a))})
    ok = all(c["max_abs_diff"] == 0.0 for c in checks)

    print(f"model {args.model}  {kwargs}  weights: {source}")
    print(f"input  {', '.join('%s [%s] %s' % (i['name'], ', '.join(map(str, i['shape'])), i['dtype']) for i in inputs)}"
          f"  platforms {', '.join(meta['platforms'])}")
    if args.concrete:
        print("shape: concrete, as requested (--concrete)")
    elif attempts:
        kept = "symbolic " + ", ".join(symbolic) if symbolic else "the concrete shape"
        print(f"shape: fell back to {kept} after {len(attempts)} more general shape(s) failed to trace "
              f"(all in meta.json); last: [{attempts[-1]['spec']}]: {attempts[-1]['error'][:160]}")
    for c in checks:
        print(f"reload StableHLO vs live jax  x {c['shape']}: max abs diff {c['max_abs_diff']:.3e}")
    if len(checks) == 1:
        print("  (every dimension is concrete: one admissible shape only)")
    if args.onnx:
        import torch
        from torch_ref.export import check_onnx, onnx_input_shapes

        print(f"ONNX inputs {onnx_input_shapes(out / ONNX_FILE)}  dynamic: {onnx_info.get('dynamic')}"
              + (f"  (fallback: {onnx_info['fallback'][:160]})" if onnx_info.get("fallback") else ""))
        dyn = onnx_info.get("dynamic") or []
        onnx_shapes = ([tuple(shape)] + ([shapes[-1]] if len(shapes) > 1 and "height" in dyn else
                                         [(shape[0] + 1, *shape[1:])] if "batch" in dyn else []))
        for s in onnx_shapes:
            a = [torch.from_numpy(np.moveaxis(u, -1, 1).copy()) for u in _inputs(spec, s, args.seed + 1)]
            with torch.no_grad():
                scale = max([1.0] + [float(t.abs().max()) for t in _torch_leaves(tm(*a))])
            d = check_onnx(out / ONNX_FILE, tm, a)
            good = d <= ONNX_RTOL * scale
            ok = ok and good
            print(f"ONNX (onnxruntime) vs torch_ref  x {[s[0], s[3], s[1], s[2]]}: max abs diff {d:.3e}"
                  f"  (tolerance {ONNX_RTOL * scale:.1e}) {'ok' if good else 'MISMATCH'}")
    for name, size in sizes.items():
        print(f"wrote {out / name}  {size:,} bytes")
    print(("OK" if ok else "MISMATCH") + f": {args.model} exported to {out}")
    return 0 if ok else 1


def _export_int8(args) -> int:
    """An int8 file (`jrestore quantize`) as StableHLO: its AQT int8 model (jrestore.quantize.int8_apply) exported
    with jax.export, symbolic batch, height and width; params.safetensors holds the int8 kernels, their scales,
    the biases and every activation's (scale, zero point). Reloaded and compared with the live int8 model."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import export as jax_export

    from jrestore import export as jx
    from jrestore.core.quantize import read_int8_file
    from jrestore.quantize import _conv_geometry, int8_apply, int8_params

    if args.set:
        raise ValueError("--set: an int8 file fixes its model's arguments; drop --set")
    if args.onnx:
        raise ValueError("--onnx: not for int8 files: ONNX export of torch.ao's converted quantised module is not "
                         "supported here; the StableHLO export holds the int8 model")
    out = Path(args.out)
    written = [n for n in (jx.STABLEHLO_FILE, jx.PARAMS_FILE, jx.META_FILE) if (out / n).exists()]
    if written and not args.overwrite:
        raise ValueError(f"--out: {out} already holds {', '.join(written)}; pass --overwrite to replace them")
    stack, tensors, file_meta, kwargs = read_int8_file(args.weights)
    params = int8_params(stack, tensors)
    geometry = _conv_geometry(stack, kwargs, tensors)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    flat = {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}
    keys = list(flat)

    def fn(flat_params, x):
        tree = jax.tree_util.tree_unflatten(treedef, [flat_params[k] for k in keys])
        return int8_apply(stack, tree, geometry, x)

    channels = int(np.asarray(tensors[f"{stack.quantised[0].prefix}.weight"]).shape[1])
    shape = parse_shape(args.shape) if args.shape else (1, 64, 64, channels)
    if shape[3] != channels:
        raise ValueError(f"--shape: {stack.model} in {args.weights} takes {channels} channel(s), got {shape[3]}")
    specs = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in flat.items()}
    if args.concrete:
        x_spec = jax.ShapeDtypeStruct(shape, jnp.float32)
    else:
        b, h, w = jax_export.symbolic_shape("b, h, w")
        x_spec = jax.ShapeDtypeStruct((b, h, w, shape[3]), jnp.float32)
    exported = jax_export.export(jax.jit(fn), platforms=tuple(jx.EXPORT_PLATFORMS))(specs, x_spec)
    inputs = jx.describe_inputs(exported, ("x",))
    inputs[0]["example"] = list(shape)
    meta = {"model": stack.model, "kwargs": kwargs, "weights": args.weights, "inputs": inputs,
            "outputs": jx.describe_outputs(exported), "layout": "NHWC float32 in [0, 1]",
            "symbolic": [d for d in inputs[0]["shape"] if isinstance(d, str)], "concrete_requested": bool(args.concrete),
            "int8": {"method": file_meta.get("method"), "quantized_by": file_meta.get("framework"),
                     "scheme": file_meta.get("scheme"),
                     "graph": "AQT int8 convolutions (jrestore.quantize.int8_apply), requantised to uint8 between "
                              "layers; the int8 kernels and quantisation parameters are params"},
            "calling": "fn(params, x) with params = params.safetensors as {path: array}; jrestore.export.load_exported binds them"}
    sizes = jx.save_exported(exported, out, meta, params=flat, overwrite=args.overwrite)
    reloaded, meta = jx.load_exported(out)
    live = jax.jit(fn)
    shapes = [tuple(shape)] + ([jx.other_shape(meta)] if jx.other_shape(meta) else [])
    rng = np.random.default_rng(args.seed + 1)
    checks = []
    for s in shapes:
        x = rng.random(s, dtype=np.float32)
        checks.append({"shape": list(s), "max_abs_diff": _max_diff(reloaded(x), live(flat, x))})
    ok = all(c["max_abs_diff"] == 0.0 for c in checks)
    print(f"model {stack.model} int8 ({file_meta.get('method')}, quantised by {file_meta.get('framework')})  {kwargs}  "
          f"weights: {args.weights}")
    print(f"input  x [{', '.join(map(str, inputs[0]['shape']))}] float32  platforms {', '.join(meta['platforms'])}")
    for c in checks:
        print(f"reload StableHLO vs live int8 jax  x {c['shape']}: max abs diff {c['max_abs_diff']:.3e}")
    for name, size in sizes.items():
        print(f"wrote {out / name}  {size:,} bytes")
    print(("OK" if ok else "MISMATCH") + f": {stack.model} int8 exported to {out}")
    return 0 if ok else 1


def _check_scale_known(name: str, kwargs: dict, has_weights: bool) -> None:
    """Trained SR weights whose factor no tensor gives (FSRCNN's deconvolution stride): the constructor's
    default would export a model at a factor the weights were maybe not trained for. Refuse instead."""
    from jrestore.core.spec import get_spec

    spec = get_spec(name)
    if has_weights and spec.kind == "sr" and spec.scale_arg and spec.scale_arg not in kwargs:
        raise ValueError(f"--set {spec.scale_arg}=N: the weights of {name} do not determine its SR factor; "
                         f"pass it (e.g. --set {spec.scale_arg}=3)")


def _torch_leaves(out):
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    values = out.values() if isinstance(out, dict) else out
    return [t for v in values for t in _torch_leaves(v)]
