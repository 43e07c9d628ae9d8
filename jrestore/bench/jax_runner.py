"""JAX measurements, run in their own process: `python -m jrestore.bench.jax_runner --serve`.

XLA reads XLA_FLAGS once, when its CPU backend starts, so the number of host devices (N, for `jax_dp`) is
fixed per process: the parent (`jrestore bench`) starts this module with
`XLA_FLAGS="$XLA_FLAGS --xla_force_host_platform_device_count=N"` and keeps it alive: it writes one REQUEST
per line on the worker's stdin and reads one RESULT per line back, one model at a time, measuring that
model's torch rows in between (the worker idles meanwhile), so each JAX/torch pair is timed minutes apart
at most, not a whole run apart on a machine whose speed drifts.

Implementations:
    jax      the trainer's jitted step (train.trainer.Trainer.jitted_step: forward + loss + backward + optax
             update over pure state, state donated) on 1 device; infer: the model in eval mode, jitted as a
             pure function of (state, x).
    jax_dp   the same on a 1-D ('data',) mesh over N devices: batch sharded, state replicated (XLA inserts
             the gradient all-reduce), exactly as the trainer does with train.devices = N.
Both run in this N-device process; `jax` uses devices[0] only (XLA's CPU client gives every device the
same thread pool, so one device here behaves as in a 1-device process).

FLOPs per step: XLA's cost analysis of the 1-device compiled step (`compiled.cost_analysis()['flops']`),
the whole batch's forward (+ backward + update in train mode). The parent reuses the number for jax_dp and
for the torch rows, since they compute the same math.
With oneDNN convolutions (jrestore.ops.onednn) the count comes from the same step traced on XLA's
convolutions, since a custom call's FLOPs are invisible to the cost analysis.

compute_dtype "bfloat16": train rows use train.compute_dtype=bfloat16 (the trainer's mixed precision: forward
in bfloat16, weights, gradients and losses float32); infer rows cast the weights and the input to bfloat16.

REQUEST: {"models", "modes", "impls", "quick", "size_scale", "steps", "warmup", "devices",
          "matmul_n", "matmul_reps", "compute_dtype"?, "keep"?}   (matmul_n 0: no matmul peak;
          keep: hold the measured steps, warm, for later rounds)
RESULT:  {"jax": {"version", "backend", "device_kind", "device_count", "xla_flags"},
          "matmul_gflops", "flops": {model: {mode: flops}}, "rows": [...]}   or {"error": traceback}
REQUEST: {"op": "round", "keys": [[model, mode, impl], ...], "steps"}   one more round of the held steps
RESULT:  {"times_s": {"model|mode|impl": [seconds, ...] or {"error": str}}}
REQUEST: {"op": "profile", "key": [model, mode, impl], "steps"}   per-operation profile of a held step
RESULT:  {"profile": op_profile.profile_jax's dict, or {"error": str}}       (jrestore bench --profile-ops)
REQUEST: {"op": "release"}   drop the held steps         RESULT: {"released": n}
"""
from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
import traceback

import numpy as np

from jrestore.bench.measure import RssPeak, matmul_gflops, time_round, time_steps
from jrestore.bench.specs import BenchSpec, generator_kwargs, get_specs, make_batch, train_config
from jrestore.core.plugins import load_plugins

__all__ = ["xla_flops", "jax_train", "jax_infer", "count_flops", "run_request", "run_round", "handle"]

_HELD: dict = {}  # "model|mode|impl" -> a warm step() kept for later rounds (REQUEST keep)
_HELD_AOT: dict = {}  # "model|mode|impl" -> its _AOT (the compiled executable, for --profile-ops)


def _log(msg: str) -> None:
    print(f"[bench jax] {msg}", file=sys.stderr, flush=True)


def xla_flops(compiled) -> float:
    """FLOPs of one call of a compiled executable from XLA's cost analysis (a dict, or a list of one dict
    in some jax versions); NaN when the backend gives none."""
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", float("nan")))


class _AOT:
    """Calls a jitted function through its AOT-compiled executable, compiling on the first call, so the
    first call's time includes compilation and the executable's cost analysis is at hand afterwards."""

    def __init__(self, jitted):
        self.jitted, self.compiled = jitted, None

    def __call__(self, *args):
        if self.compiled is None:
            self.compiled = self.jitted.lower(*args).compile()
        return self.compiled(*args)


def _mesh(devices: int):
    import jax

    avail = jax.devices()
    if devices > len(avail):
        raise ValueError(f"devices: {devices} requested, {len(avail)} available (XLA_FLAGS="
                         f"{os.environ.get('XLA_FLAGS', '')!r})")
    return jax.sharding.Mesh(np.asarray(avail[:devices]), ("data",))


def jax_train(spec: BenchSpec, devices: int, compute_dtype: str = "float32"):
    """(step, aot, images, args) for the trainer's own train step on `devices` devices (srgan: its generator
    then discriminator update, train/gan.py). step() runs one update and blocks until it finished;
    aot.compiled exists after the first step(); args() -> the current arguments (for lowering without running)."""
    import jax
    import jrestore.models as jmodels
    from jrestore.convert import torch_state_dict
    from train.trainer import Trainer

    cfg = train_config(spec, devices=devices, compute_dtype=compute_dtype)
    # initial weights from jrestore's own init (same shapes and cost as torch_ref's)
    init = torch_state_dict(jmodels.get(spec.model, **generator_kwargs(spec)))
    trainer = Trainer(cfg, tempfile.mkdtemp(prefix="jrestore_bench_"), initial_state=init, progress=False)
    batch = trainer.device_batch(make_batch(spec, "train"))
    aot = _AOT(trainer.jitted_step)  # the trainer's jit (state replicated, donated): its executable counts FLOPs
    holder = {"state": trainer.state}

    def step():
        holder["state"], metrics = aot(holder["state"], batch, trainer.frozen)  # state donated, as in Trainer.run
        jax.block_until_ready((holder["state"], metrics))

    return step, aot, spec.batch, lambda: (holder["state"], batch, trainer.frozen)


def jax_infer(spec: BenchSpec, devices: int, compute_dtype: str = "float32"):
    """(step, aot, images, args) for the model's forward in eval mode, jitted as a pure function of (state, x)
    (ISTA-Net+: the reconstruction only; srgan: the generator); bfloat16: weights and input cast to it."""
    import jax
    import jrestore.models as jmodels
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec as P

    model = jmodels.get(spec.model, **generator_kwargs(spec))
    model.eval()
    graphdef, state = nnx.split(model)

    def forward(state, x):
        out = nnx.merge(graphdef, state, copy=True)(x)
        return out[0] if isinstance(out, tuple) else out

    mesh = _mesh(devices)
    repl, data = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    x = make_batch(spec, "infer")["input"]
    if compute_dtype == "bfloat16":
        import jax.numpy as jnp

        def cast(a):
            return a.astype(jnp.bfloat16) if jnp.issubdtype(a.dtype, jnp.floating) else a

        state, x = jax.tree.map(cast, state), x.astype(jnp.bfloat16)
    state = jax.device_put(state, repl)
    x = jax.device_put(x, data)
    aot = _AOT(jax.jit(forward, in_shardings=(repl, data), out_shardings=data))

    def step():
        jax.block_until_ready(aot(state, x))

    return step, aot, spec.batch, lambda: (state, x)


def _device_peak_mb() -> float | None:
    """Peak bytes in use on device 0 when the backend reports it (GPU/TPU; XLA's CPU client does not)."""
    import jax

    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001  backends without memory statistics raise or return None
        return None
    return stats["peak_bytes_in_use"] / 2**20 if stats and "peak_bytes_in_use" in stats else None


def measure(spec: BenchSpec, mode: str, impl: str, devices: int, steps: int, warmup: int,
            compute_dtype: str = "float32", keep: bool = False, int8_file: str | None = None) -> tuple[dict, float]:
    """One (model, mode, impl) measurement -> (row, XLA flops of the compiled step on this impl's devices).
    keep: hold the warm step for later rounds (run_round). jax_int8: the int8 file's AQT model (infer only;
    no FLOP count of its own: the rows share the float step's)."""
    if impl == "jax_int8":
        from jrestore.bench.int8 import jax_int8_infer

        with RssPeak() as mem:
            step, images = jax_int8_infer(spec, int8_file)
            timing = time_steps(step, steps, warmup, mem)
        if keep:
            _HELD[f"{spec.name}|{mode}|{impl}"] = step
        return ({"model": spec.name, "mode": mode, "impl": impl, "devices": 1, "images_per_step": images,
                 "int8_file": int8_file, **timing}, float("nan"))
    n_dev = 1 if impl == "jax" else devices
    build = {"train": jax_train, "infer": jax_infer}[mode]
    with RssPeak() as mem:
        step, aot, images, _ = build(spec, n_dev, compute_dtype)
        timing = time_steps(step, steps, warmup, mem)
    if keep:
        _HELD[f"{spec.name}|{mode}|{impl}"] = step
        _HELD_AOT[f"{spec.name}|{mode}|{impl}"] = aot
    row = {"model": spec.name, "mode": mode, "impl": impl, "devices": n_dev, "images_per_step": images, **timing}
    dev_mb = _device_peak_mb()
    if dev_mb is not None:
        row["device_peak_mb"] = dev_mb
    return row, (count_flops(spec, mode, compute_dtype) if _onednn_in_play() else xla_flops(aot.compiled))


def _onednn_in_play() -> bool:
    """True when convolutions may be oneDNN custom calls, whose FLOPs XLA's cost analysis does not see."""
    from jrestore import runtime
    from jrestore.ops import onednn

    return runtime.conv_backend() != "xla" and onednn.available()


def count_flops(spec: BenchSpec, mode: str, compute_dtype: str = "float32") -> float:
    """XLA's FLOP count of the 1-device step, compiled but not run (when the `jax` impl is not measured, or
    when oneDNN computes its convolutions: the count is taken from the same step on XLA's convolutions).

    Compiled, not only lowered: the lowered (pre-optimisation) module's cost analysis matches the compiled
    one's to 1.1 % on every --quick step but SRGAN's train step, where it counts 8.2 % more (78.6 against 72.6
    GFLOP): the trainer's GAN step traces the generator's output for both updates and XLA's CSE computes it
    once, as PyTorch does (docs/measurements.md, "FLOP counts: lowered or compiled"; scripts/flop_counts.py)."""
    from jrestore.runtime import use_conv_backend

    build = {"train": jax_train, "infer": jax_infer}[mode]
    with use_conv_backend("xla"):  # a fresh trace, so no oneDNN custom call hides its FLOPs
        _, aot, _, args = build(spec, 1, compute_dtype)
        return xla_flops(aot.jitted.lower(*args()).compile())


def matmul_peak(n: int, reps: int) -> float:
    """GFLOP/s of a jitted n x n float32 matmul on device 0 (the best of reps)."""
    import jax
    import jax.numpy as jnp

    ka, kb = jax.random.split(jax.random.key(0))
    a, b = jax.random.normal(ka, (n, n), jnp.float32), jax.random.normal(kb, (n, n), jnp.float32)
    f = jax.jit(jnp.matmul)
    return matmul_gflops(lambda: f(a, b).block_until_ready(), n, reps)


def run_request(req: dict) -> dict:
    """Every requested JAX measurement; failures become rows with an "error" and the run goes on."""
    import jax

    # no models (the peak-only request): nothing else (get_specs would read "none named" as "all")
    specs = get_specs(req["models"], quick=req["quick"], size_scale=req["size_scale"]) if req["models"] else []
    devices = int(req["devices"])
    dtype = req.get("compute_dtype", "float32")
    out = {"jax": {"version": jax.__version__, "backend": jax.default_backend(),
                   "device_kind": jax.devices()[0].device_kind, "device_count": len(jax.devices()),
                   "xla_flags": os.environ.get("XLA_FLAGS", "")},
           "flops": {}, "rows": []}
    if int(req["matmul_n"]):
        t0 = time.perf_counter()
        out["matmul_gflops"] = matmul_peak(int(req["matmul_n"]), int(req["matmul_reps"]))
        _log(f"{req['matmul_n']}^2 float32 matmul: {out['matmul_gflops']:.1f} GFLOP/s "
             f"({time.perf_counter() - t0:.1f} s)")
    for spec in specs:
        for mode in req["modes"]:
            impls = [i for i in ("jax", "jax_dp", "jax_int8") if i in req["impls"]]
            flops = None
            for impl in impls:
                if impl == "jax_dp" and (devices < 2 or spec.batch % devices):
                    why = (f"{devices} device(s)" if devices < 2 else
                           f"batch {spec.batch} is not a multiple of {devices} devices")
                    out["rows"].append({"model": spec.name, "mode": mode, "impl": impl, "skipped": why})
                    continue
                try:
                    row, f = measure(spec, mode, impl, devices, req["steps"], req["warmup"], dtype,
                                     keep=bool(req.get("keep")), int8_file=(req.get("int8_files") or {}).get(spec.name))
                except Exception as err:  # noqa: BLE001  one failure must not lose the other measurements
                    traceback.print_exc()
                    out["rows"].append({"model": spec.name, "mode": mode, "impl": impl,
                                        "error": f"{type(err).__name__}: {err}"})
                    continue
                if impl == "jax":
                    flops = f  # the 1-device executable computes the whole batch: its count is the step's
                out["rows"].append(row)
                _log(f"{spec.name} {mode} {impl}: median {row['median_ms']:.1f} ms, first call "
                     f"{row['compile_s']:.1f} s")
                gc.collect()
            if flops is None:  # `jax` not measured: compile the 1-device step only to count its FLOPs
                try:
                    flops = count_flops(spec, mode, dtype)
                except Exception as err:  # noqa: BLE001
                    _log(f"{spec.name} {mode}: no FLOP count ({type(err).__name__}: {err})")
            out["flops"].setdefault(spec.name, {})[mode] = flops
    return out


def run_round(req: dict) -> dict:
    """One more round of the held steps named in req["keys"]: {"times_s": {key: [seconds] | {"error"}}}."""
    out = {}
    for model, mode, impl in req["keys"]:
        key = f"{model}|{mode}|{impl}"
        if key not in _HELD:
            out[key] = {"error": f"{key} is not held (measured without keep, or released)"}
            continue
        try:
            out[key] = time_round(_HELD[key], int(req["steps"]))
        except Exception as err:  # noqa: BLE001  one failure must not lose the other measurements
            traceback.print_exc()
            out[key] = {"error": f"{type(err).__name__}: {err}"}
    return {"times_s": out}


def run_profile(req: dict) -> dict:
    """Profile `steps` calls of the held step req["key"] ([model, mode, impl]) per operation
    (jrestore.bench.op_profile.profile_jax): {"profile": {...}} or {"profile": {"error": str}}."""
    from jrestore.bench import op_profile

    key = "|".join(req["key"])
    if key not in _HELD:
        return {"profile": {"error": f"{key} is not held (measured without keep, or released)"}}
    try:
        return {"profile": op_profile.profile_jax(_HELD[key], _HELD_AOT[key].compiled, int(req["steps"]))}
    except Exception as err:  # noqa: BLE001  a profiler failure must not lose the timings
        traceback.print_exc()
        return {"profile": {"error": f"{type(err).__name__}: {err}"}}


def handle(req: dict) -> dict:
    """One request of any kind (see the module docstring)."""
    op = req.get("op", "measure")
    if op == "round":
        return run_round(req)
    if op == "profile":
        return run_profile(req)
    if op == "release":
        n = len(_HELD)
        _HELD.clear()
        _HELD_AOT.clear()
        gc.collect()
        return {"released": n}
    if op == "measure":
        return run_request(req)
    raise ValueError(f"op: expected 'measure', 'round', 'profile' or 'release', got {op!r}")


def serve(requests, replies) -> None:
    """Answer one JSON request per line of `requests` with one JSON line on `replies`, until end of input."""
    for line in requests:
        if not line.strip():
            continue
        try:
            out = handle(json.loads(line))
        except Exception:  # noqa: BLE001  the parent reports it and stops
            out = {"error": traceback.format_exc()}
        replies.write(json.dumps(out) + "\n")
        replies.flush()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--serve"]:
        print("usage: python -m jrestore.bench.jax_runner --serve   (JSON requests on stdin, one per line)",
              file=sys.stderr)
        return 2
    # the parent's allocator setting, passed down in $JRESTORE_MALLOC_DEFAULTS: both frameworks run under one
    from jrestore.runtime import apply_malloc_defaults
    apply_malloc_defaults()
    load_plugins()  # the parent's --plugin files, passed down in $JRESTORE_PLUGINS, and installed entry points
    # the replies get the real stdout; anything else printing to stdout (libraries) goes to stderr
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
