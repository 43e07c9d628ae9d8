"""`jrestore bench`: throughput of JAX (1 device and data-parallel) beside PyTorch eager, channels_last and
torch.compile (and torch_amp on CUDA), per model and mode, at the standard sizes of jrestore.bench.specs.

    jrestore bench --out bench_out                       # every model, train and infer, 3 rounds x 4 steps
    jrestore bench --quick --json                        # jax, channels_last, torch.compile; halved sizes
    jrestore bench --model dncnn srresnet --mode train --devices 2 --rounds 5
    jrestore bench --compute-dtype bfloat16 --impl jax torch_amp torch_compile   # mixed precision (GPU)

--json prints one object {"device", "peak_gflops", "results": [{"model", "mode", "impl", "median_ms",
"rounds_ms", "images_per_s", "gflops", "fraction_of_peak", "ratio", "ratio_best", ...}],
"ratios": {model: {"train", "infer"}}, "ratios_best": {...}, "ratio_stats": {model: {mode: {"vs_compile",
"vs_best": {"median", "min", "max", "rounds", "within_noise", "jax_impl", "torch_impl"}}}}, "xla_settings", ...};
"gflops" is the achieved GFLOP/s (XLA's FLOP count of the step / median time), "gflop_per_step" the count
itself. Within each model's slot JAX and torch alternate for --rounds rounds of --steps timed calls each (no
rebuild between rounds); a ratio is the median of the per-round ratios, and "within_noise" says its range
across rounds includes 1.0.
Progress goes to stderr. Exit status 1 when a measurement failed (its row carries the error).

    jrestore bench --model dncnn --mode infer --int8 dncnn_25_int8.safetensors   # int8 beside float32

The int8 rows (jax_int8: AQT; torch_int8: torch.ao's converted module) run for entries with an int8 chain
(dncnn, fsrcnn) in infer mode, with the default impls or when named; without --int8 the model is quantised on
the fly (PTQ on a generated batch). "int8_ratios" in the JSON and a table in the markdown give int8 / float32
images/s per framework (jrestore/bench/int8.py).

    jrestore bench --tune-xla                            # choose XLA's CPU flags by measurement, cache the winner

    jrestore bench --quick --model dncnn --profile-ops --out DIR   # + where each step's time goes, per operation

--profile-ops profiles, after each slot's timed rounds, the jax step (jax.profiler: XLA:CPU's per-HLO-instruction
thunk events) and the best torch impl's step (torch.profiler, self CPU time per op), maps both to the same
categories and writes op_profile.json and op_profile.md (jrestore.bench.op_profile; with --json the entries are
under "op_profile").

--tune-xla measures only that (jrestore.bench.xla_tune, about a minute) and exits; processes started afterwards
use the winner (jrestore/runtime.py). With --json it prints the stored record.
"""
from __future__ import annotations

import json
import shlex
import sys


def add_parser(p):
    from jrestore.bench.specs import COMPUTE_DTYPES, DEFAULT_IMPLS, IMPLS, QUICK_IMPLS, SPECS

    p.add_argument("--model", nargs="+", metavar="NAME", help=f"models to measure (default: all of {list(SPECS)})")
    p.add_argument("--mode", choices=("train", "infer", "both"), default="both",
                   help="train: forward + loss + backward + Adam update; infer: forward in eval mode (default: both)")
    p.add_argument("--impl", nargs="+", metavar="IMPL",
                   help=f"implementations, some of {list(IMPLS)} (default: {list(DEFAULT_IMPLS)}; with --quick "
                        f"{list(QUICK_IMPLS)}; torch_amp: bfloat16 autocast, CUDA only)")
    p.add_argument("--rounds", type=int, metavar="R",
                   help="JAX/torch alternations per model slot, each timing --steps calls per impl (default 3)")
    p.add_argument("--compute-dtype", choices=COMPUTE_DTYPES, default="float32",
                   help="the JAX rows' dtype: train.compute_dtype of the train step (bfloat16: forward in bfloat16, "
                        "weights and gradients float32), weights and input of the infer step (default: float32)")
    p.add_argument("--quick", action="store_true",
                   help="impls jax, torch_channels_last, torch_compile unless --impl; 10 timed steps after 1 warm-up, halved spatial sizes (ISTA-Net+: a quarter of the batch), "
                        "a 2048^2 matmul for the peak; within 10 minutes on 2 cores")
    p.add_argument("--int8", nargs="+", metavar="FILE",
                   help="int8 files (jrestore quantize) for the jax_int8 / torch_int8 rows of their models; without "
                        "one, entries with an int8 chain (dncnn, fsrcnn) get a PTQ model made on the fly")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.add_argument("--out", metavar="DIR", help="write bench.json, bench.md and bench.png to DIR")
    p.add_argument("--devices", type=int, metavar="N",
                   help="host devices for jax_dp (default: the number of CPU cores this process may use)")
    p.add_argument("--no-pipeline", action="store_true", help="skip the input-pipeline rates")
    p.add_argument("--profile-ops", action="store_true",
                   help="also profile, per model and mode, the jax step (jax.profiler) and the best torch impl's "
                        "step (torch.profiler) per operation, in the same categories (convolution forward / "
                        "input / filter gradient, layout, BatchNorm, elementwise, reductions, matmul, optimizer, "
                        "other); writes op_profile.json and op_profile.md under --out")
    p.add_argument("--tune-xla", action="store_true",
                   help="only choose XLA's CPU flags by measurement on this CPU (a small conv train + infer step "
                        "under each candidate, in subprocesses) and store the winner in the per-user cache "
                        "($JRESTORE_CACHE or ~/.cache/jrestore/xla_settings.json) for later processes")
    # for tests and experiments: not part of the documented interface
    p.add_argument("--size-scale", type=float, default=1.0, help=argparse_suppress())
    p.add_argument("--steps", type=int, help=argparse_suppress())  # timed calls per round
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
    if args.int8:
        parts += ["--int8", *args.int8]
    for flag in ("quick", "json", "no_pipeline", "tune_xla", "profile_ops"):
        if getattr(args, flag):
            parts.append("--" + flag.replace("_", "-"))
    for key in ("out", "devices", "rounds", "compute_dtype", "size_scale", "steps", "warmup", "matmul_n"):
        value = getattr(args, key)
        if value is not None and not (key == "size_scale" and value == 1.0) and not (
                key == "compute_dtype" and value == "float32"):
            parts += ["--" + key.replace("_", "-"), str(value)]
    return shlex.join(parts)


def _tune_xla(args) -> int:
    from jrestore.bench import xla_tune

    record = xla_tune.tune(rounds=args.rounds or 2, steps=args.steps or 5,
                           warmup=1 if args.warmup is None else args.warmup)
    if args.json:
        print(json.dumps(record))
    else:
        print(f"XLA CPU setting for {record['cpu']} (jaxlib {record['jaxlib']}): {record['name']} "
              f"[{record['flags'] or 'no flags'}]\n  {record['why']}\n  scores (median train + infer ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in record["score_ms"].items())
              + "".join(f"\n  {k}: {m['error']}" for k, m in record["measured"].items() if "error" in m)
              + f"\n  stored in {record['cache']}"
              + (f"\n  warning: {record['busy_warning']}" if record.get("busy_warning") else ""))
    return 0


def run(args) -> int:
    if args.tune_xla:
        return _tune_xla(args)
    from jrestore.bench import report
    from jrestore.bench.run import run_bench
    from jrestore.bench.specs import get_specs

    get_specs(args.model, quick=args.quick, size_scale=args.size_scale)  # bad names / sizes: fail before any work
    modes = ("train", "infer") if args.mode == "both" else (args.mode,)
    result = run_bench(models=args.model, modes=modes, impls=args.impl, quick=args.quick,
                       devices=args.devices, size_scale=args.size_scale, steps=args.steps, warmup=args.warmup,
                       matmul_n=args.matmul_n, pipeline=not args.no_pipeline, command=_command(args),
                       rounds=args.rounds, compute_dtype=args.compute_dtype, profile_ops=args.profile_ops,
                       int8=args.int8)
    if args.out:
        paths = report.write_outputs(result, args.out)
        print(f"jrestore bench: wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        print(report.markdown(result))
        if args.profile_ops:
            from jrestore.bench import op_profile

            print(op_profile.markdown(result["op_profile"], result["command"], result["device"]))
    failed = [r for r in result["results"] if "error" in r]
    failed += [{**e, "impl": "op profile"} for e in result.get("op_profile") or [] if "error" in e]
    if failed:
        print(f"jrestore bench: {len(failed)} measurement(s) failed: "
              + "; ".join(f"{r['model']} {r['mode']} {r['impl']}: {r['error']}" for r in failed), file=sys.stderr)
        return 1
    return 0
