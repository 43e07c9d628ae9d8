"""`jrestore bench`: throughput of JAX (1 device and data-parallel) beside PyTorch eager, channels_last and
torch.compile, per model and mode, at the standard sizes of jrestore.bench.specs.

    jrestore bench --out bench_out                       # every model, train and infer, 10 timed steps
    jrestore bench --quick --json                        # jax, channels_last, torch.compile; halved sizes
    jrestore bench --model dncnn srresnet --mode train --devices 2

--json prints one object {"device", "peak_gflops", "results": [{"model", "mode", "impl", "median_ms",
"images_per_s", "gflops", "fraction_of_peak", ...}], "ratios": {model: {"train", "infer"}}, ...}; "gflops" is
the achieved GFLOP/s (XLA's FLOP count of the step / median time), "gflop_per_step" the count itself.
Progress goes to stderr. Exit status 1 when a measurement failed (its row carries the error).
"""
from __future__ import annotations

import json
import shlex
import sys


def add_parser(p):
    from jrestore.bench.specs import IMPLS, QUICK_IMPLS, SPECS

    p.add_argument("--model", nargs="+", metavar="NAME", help=f"models to measure (default: all of {list(SPECS)})")
    p.add_argument("--mode", choices=("train", "infer", "both"), default="both",
                   help="train: forward + loss + backward + Adam update; infer: forward in eval mode (default: both)")
    p.add_argument("--impl", nargs="+", metavar="IMPL", help=f"implementations (default: all of {list(IMPLS)}; with --quick {list(QUICK_IMPLS)})")
    p.add_argument("--quick", action="store_true",
                   help="impls jax, torch_channels_last, torch_compile unless --impl; 10 timed steps after 1 warm-up, halved spatial sizes (ISTA-Net+: a quarter of the batch), "
                        "a 2048^2 matmul for the peak; within 10 minutes on 2 cores")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.add_argument("--out", metavar="DIR", help="write bench.json, bench.md and bench.png to DIR")
    p.add_argument("--devices", type=int, metavar="N",
                   help="host devices for jax_dp (default: the number of CPU cores this process may use)")
    p.add_argument("--no-pipeline", action="store_true", help="skip the input-pipeline rates")
    # for tests and experiments: not part of the documented interface
    p.add_argument("--size-scale", type=float, default=1.0, help=argparse_suppress())
    p.add_argument("--steps", type=int, help=argparse_suppress())
    p.add_argument("--warmup", type=int, help=argparse_suppress())
    p.add_argument("--matmul-n", type=int, help=argparse_suppress())


def argparse_suppress():
    import argparse
    return argparse.SUPPRESS


def _command(args) -> str:
    parts = ["jrestore", "bench"]
    if args.model:
        parts += ["--model", *args.model]
    if args.mode != "both":
        parts += ["--mode", args.mode]
    if args.impl:
        parts += ["--impl", *args.impl]
    for flag in ("quick", "json", "no_pipeline"):
        if getattr(args, flag):
            parts.append("--" + flag.replace("_", "-"))
    for key in ("out", "devices", "size_scale", "steps", "warmup", "matmul_n"):
        value = getattr(args, key)
        if value is not None and not (key == "size_scale" and value == 1.0):
            parts += ["--" + key.replace("_", "-"), str(value)]
    return shlex.join(parts)


def run(args) -> int:
    from jrestore.bench import report
    from jrestore.bench.run import run_bench
    from jrestore.bench.specs import get_specs

    get_specs(args.model, quick=args.quick, size_scale=args.size_scale)  # bad names / sizes: fail before any work
    modes = ("train", "infer") if args.mode == "both" else (args.mode,)
    result = run_bench(models=args.model, modes=modes, impls=args.impl, quick=args.quick,
                       devices=args.devices, size_scale=args.size_scale, steps=args.steps, warmup=args.warmup,
                       matmul_n=args.matmul_n, pipeline=not args.no_pipeline, command=_command(args))
    if args.out:
        paths = report.write_outputs(result, args.out)
        print(f"jrestore bench: wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        print(report.markdown(result))
    failed = [r for r in result["results"] if "error" in r]
    if failed:
        print(f"jrestore bench: {len(failed)} measurement(s) failed: "
              + "; ".join(f"{r['model']} {r['mode']} {r['impl']}: {r['error']}" for r in failed), file=sys.stderr)
        return 1
    return 0
