"""`jrestore verify`: cross-framework verification of one model (and optionally a checkpoint).

Builds the torch_ref model (from --weights, else from randomly perturbed parameters and buffers),
converts it to jrestore by rule, runs both on the same inputs in eval and train mode, compares the loss
gradients and one Adam step, and prints a per-layer table of max-abs differences.
"""
from __future__ import annotations

import ast
import json
import sys


def add_parser(p):
    p.add_argument("--model", help="registered model name (see `jrestore.models.names()`); optional when "
                                    "--weights records it (a model file or training workdir)")
    p.add_argument("--weights", help="weights file (.pth/.pt/.pkl with weights_only=True, .safetensors, MatConvNet "
                                      ".mat) or a training workdir (its model.safetensors; WORKDIR:best for "
                                      "best.safetensors)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="constructor argument (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        if value.lower() in ("true", "false"):  # the shell spelling of a bool flag (prelu_split=true)
            out[key] = value.lower() == "true"
            continue
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def resolve_model_flags(model: str | None, weights: str | None) -> tuple[str, str | None]:
    """(model name, weights file) from --model / --weights: a training workdir (WORKDIR, WORKDIR:best) becomes
    its model file, and a missing --model is the name that file records. One-line errors: neither names the
    model; both do and differ (`jrestore.core.model_file.resolve_model`)."""
    from jrestore.core.model_file import resolve_model

    if model == "bicubic":  # the interpolation baseline takes no weights
        return model, weights
    name, file, _ = resolve_model(model, weights)
    return name, (None if file is None else str(file))


def pin_full_precision() -> None:
    """Exact float32 on both sides (no TF32 / bf16 passes), as the parity tests do. torch is the optional
    `torch` extra: without it the JAX paths (eval / restore / export / convert --framework jax) still run."""
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
    try:
        import torch
    except ImportError:
        return
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def run(args) -> int:
    import numpy as np
    import jrestore.models
    import torch_ref.models

    pin_full_precision()
    args.model, args.weights = resolve_model_flags(args.model, args.weights)
    jrestore.models.MODELS.lookup(args.model)  # unknown name: one clear error listing valid names
    from jrestore.convert.checkpoints import load_state_dict_file
    from jrestore.parity import tolerances
    from jrestore.parity.cases import get_case
    from jrestore.parity.model_parity import compare_model

    from jrestore.convert.architecture import infer_kwargs

    case = get_case(args.model)  # its spec's ParityCase (built-in or plugin); none: one clear error
    atol = tolerances.MODEL if case.atol is None else case.atol
    weights = load_state_dict_file(args.weights, what="--weights") if args.weights else None
    if weights is not None:  # known foreign layouts (the spec's key_aliases)
        from jrestore.core.spec import get_spec
        weights = get_spec(args.model).rename_keys(weights)
    # what the weights determine (as convert / restore / export read it), so one wrong-shaped tensor is
    # reported as that key and both shapes, not as a different architecture's missing keys
    from jrestore.inference.tasks import _recorded_kwargs
    inferred = {**_recorded_kwargs(args.model, args.weights), **infer_kwargs(args.model, weights)} \
        if weights is not None else {}
    kwargs = {**case.full, **inferred, **parse_sets(args.set)}
    if weights is not None:
        weights = get_spec(args.model).adapt_state(weights, kwargs)  # the spec's state_rule (FSRCNN prelu_split)
    inputs = case.inputs(np.random.default_rng(args.seed), True)
    result = compare_model(args.model, kwargs, inputs, seed=args.seed, train_mode=case.train_mode,
                           grad=case.grad, atol=atol, weights=weights, source=args.weights, layers=True)
    summary = {
        "model": args.model,
        "kwargs": kwargs,
        "perturbed": result["perturbed"],
        "weights": args.weights,
        "inputs": [list(np.shape(x)) for x in inputs],
        "max_abs_diff": result["eval"]["max_abs"],
        "max_abs_diff_train": result["train"]["max_abs"] if "train" in result else None,
        "grad_max_abs_diff": result["grad"]["max_abs"] if "grad" in result else None,
        "grad_torch_float32_noise": result["grad"]["torch_float32_noise"] if "grad" in result else None,
        "adam_step_max_abs_diff": result["adam"]["max_abs"] if "adam" in result else None,
        "tolerance": {"model": atol, "gradient": tolerances.GRADIENT, "optimizer_step": tolerances.OPTIMIZER_STEP,
                      "gradient_float32_noise_factor": tolerances.GRADIENT_FLOAT32_NOISE_FACTOR,
                      "relative_to": "max(1, max|torch output|)"},
        "first_layer_over_tolerance": result["first_divergence"],
        "ok": bool(result["ok"]),
        "layers": result["layers"],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        _print_tables(summary, result)
    return 0 if summary["ok"] else 1


def _print_tables(summary: dict, result: dict) -> None:
    print(f"model {summary['model']}  {summary['kwargs']}  inputs {summary['inputs']}  "
          f"{'perturbed random weights' if summary['perturbed'] else summary['weights']}")
    print(f"\n{'layer':<40} {'shape':<22} {'max |jax - torch|':>18} {'max |torch|':>12}")
    for r in summary["layers"]:
        mark = "  <-- first over tolerance" if r["layer"] == summary["first_layer_over_tolerance"] else ""
        print(f"{r['layer']:<40} {str(r['shape']):<22} {r['max_abs']:>18.3e} {r['scale']:>12.4g}{mark}")
    print(f"\n{'check':<8} {'max abs diff':>14} {'max rel':>10} {'tolerance':>10}  status")
    for check in ("eval", "train", "grad", "adam"):
        if check in result:
            s = result[check]
            tol = summary["tolerance"]["gradient" if check == "grad" else "optimizer_step" if check == "adam" else "model"]
            status = "ok" if s["ok"] else f"FAIL at {s['first_bad']}"
            print(f"{check:<8} {s['max_abs']:>14.3e} {s['max_rel']:>10.2e} {tol:>10.0e}  {status}")
    print(f"\n{'OK' if summary['ok'] else 'MISMATCH'}: {summary['model']}", file=sys.stdout)
