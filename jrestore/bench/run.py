"""The benchmark driver: JAX in a subprocess with N host devices, PyTorch here, interleaved; then the input pipeline.

    result = run_bench(models=["dncnn"], modes=("train", "infer"), quick=False, devices=2, rounds=3)
    result -> {"device", "peak_gflops", "results": [row, ...], "ratios": {model: {mode: x}},
               "ratios_best": {model: {mode: x}}, "ratio_stats": {model: {mode: {"vs_compile", "vs_best"}}},
               "pipeline": [...], "matmul", "steps", "rounds", "warmup", "quick", "sizes", "jax", "torch",
               "xla_settings", "malloc_settings", "compute_dtype", "command"}

Order on the machine: both float32 matmul peaks; then model by model and mode by mode, one slot each: round 1
builds and times the JAX rows (`jax`, `jax_dp`, in a persistent worker subprocess that keeps the compiled
steps) and then the torch rows (the modules kept too); rounds 2..R time `steps` more calls of each, JAX then
torch, with no rebuild or recompilation; then the slot's steps are dropped. So each JAX/torch pair is taken
seconds apart, R times, and a ratio's spread across the rounds says whether it is within the machine's
noise. Then the input pipelines. One measurement at a time: the worker idles while torch runs.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from jrestore.bench import report, torch_runner
from jrestore.bench.measure import add_round, time_round
from jrestore.bench.specs import (COMPUTE_DTYPES, DEFAULT_IMPLS, IMPLS, INT8_IMPLS, JAX_IMPLS, QUICK_IMPLS, MODES,
                                  TORCH_IMPLS, get_specs, train_config)

__all__ = ["run_bench", "default_devices", "cpu_name", "xla_flags_with_devices", "pipeline_rates", "settings"]

# steps: timed calls per round; rounds: JAX/torch alternations per slot (steps x rounds timed calls per row).
# --quick times 9 calls per row where it timed 10 in one block before, so its wall time stays as it was.
FULL = {"steps": 4, "rounds": 3, "warmup": 2, "matmul_n": 4096, "matmul_reps": 5, "pipeline_steps": 20}
QUICK = {"steps": 3, "rounds": 3, "warmup": 1, "matmul_n": 2048, "matmul_reps": 3, "pipeline_steps": 10}


def settings(quick: bool, steps: int | None = None, warmup: int | None = None, matmul_n: int | None = None,
             rounds: int | None = None) -> dict:
    """Timed steps per round, rounds, warm-up calls and matmul size: FULL, or QUICK with --quick; explicit
    values override."""
    s = dict(QUICK if quick else FULL)
    for key, value in (("steps", steps), ("warmup", warmup), ("matmul_n", matmul_n), ("rounds", rounds)):
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key != "warmup" else 0):
                raise ValueError(f"--{key.replace('_', '-')}: expected an integer >= {1 if key != 'warmup' else 0}, "
                                 f"got {value!r}")
            s[key] = value
    return s


def default_devices() -> int:
    """The CPU cores this process may use (the default N for jax_dp)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def xla_flags_with_devices(flags: str, n: int) -> str:
    """`flags` with --xla_force_host_platform_device_count=n (replacing any given value); other flags kept,
    so a user's XLA_FLAGS (e.g. --xla_cpu_experimental_ynn_fusion_type=...) apply to the JAX rows."""
    kept = [f for f in flags.split() if not f.startswith("--xla_force_host_platform_device_count")]
    return " ".join(kept + [f"--xla_force_host_platform_device_count={n}"])


class _JaxWorker:
    """jrestore.bench.jax_runner --serve in a fresh process with N host devices; its stderr shows progress."""

    def __init__(self, devices: int):
        from jrestore.runtime import MALLOC_ENV, malloc_defaults_status
        env = dict(os.environ, XLA_FLAGS=xla_flags_with_devices(os.environ.get("XLA_FLAGS", ""), devices))
        # the worker's allocator as this process's (the program sets it; a library caller, e.g. a test, does not),
        # so JAX and torch are timed under the same one
        env[MALLOC_ENV] = "1" if malloc_defaults_status()["applied"] else "0"
        self.proc = subprocess.Popen([sys.executable, "-m", "jrestore.bench.jax_runner", "--serve"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the JAX benchmark process died (exit {self.proc.wait()}); its traceback is above")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"the JAX benchmark process failed:\n{out['error']}")
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def pipeline_rates(specs, rows: list[dict], steps: int) -> list[dict]:
    """Batches/s of train.data.benchmark_pipeline for every spec with a recipe, at the bench's batch and
    patch size, against the best JAX train step rate. A recipe's folder that is absent (no reference
    data) falls back to the scikit-image photos, as the runlocal variants do; the row says which."""
    from train.data import benchmark_pipeline
    from train.data.sources import resolve_folder

    out = []
    for spec in specs:
        if not spec.recipe or spec.task == "gan":
            continue
        cfg = train_config(spec)
        data = cfg.data
        source = data.source
        if source == "folder":
            try:
                folder = resolve_folder(data.path)
                ok = folder.is_dir()
            except (ValueError, FileNotFoundError):
                ok = False
            if not ok:
                data.update(source="skimage", path="")
                source = "skimage"
            else:
                source = f"folder {folder.name}"
        entry = {"model": spec.name, "recipe": spec.recipe, "source": source, "batch": spec.batch}
        try:
            entry["batches_per_s"] = benchmark_pipeline(data, cfg.task, spec.batch, steps)
        except Exception as err:  # noqa: BLE001  one data problem must not lose the timings
            entry["error"] = f"{type(err).__name__}: {err}"
            out.append(entry)
            continue
        rates = [1e3 / r["median_ms"] for r in rows if r["model"] == spec.name and r["mode"] == "train"
                 and r["impl"] in JAX_IMPLS and "median_ms" in r]
        entry["train_steps_per_s"] = max(rates) if rates else None
        entry["ratio"] = entry["batches_per_s"] / entry["train_steps_per_s"] if rates else None
        entry["meets_3x"] = entry["ratio"] >= 3 if rates else None
        out.append(entry)
        torch_runner.log(f"pipeline {spec.name}: {entry['batches_per_s']:.2f} batches/s ({source})")
    return out


def _profile_slot(worker: "_JaxWorker", spec, mode: str, jax_rows: dict, torch_rows: dict, torch_steps: dict,
                  s: dict) -> dict:
    """--profile-ops: the warm `jax` step and the best (lowest median) float32 torch impl's step profiled per
    operation, alternating for s["rounds"] rounds of s["steps"] calls each, as the timings were taken
    (jrestore.bench.op_profile.compare's entry, or {"model", "mode", "error"})."""
    from jrestore.bench import op_profile

    jax_row = jax_rows.get("jax") or {}
    timed = {impl: r for impl, r in torch_rows.items()
             if "median_ms" in r and impl in report.best_torch_impls() and (spec.name, mode, impl) in torch_steps}
    if "median_ms" not in jax_row or not timed:
        return {"model": spec.name, "mode": mode,
                "error": "--profile-ops needs the jax impl and a float32 torch impl measured"}
    torch_impl = min(timed, key=lambda i: timed[i]["median_ms"])
    jax_profiles, torch_profiles = [], []
    for _ in range(s["rounds"]):
        out = worker.ask({"op": "profile", "key": [spec.name, mode, "jax"], "steps": s["steps"]})["profile"]
        if "error" in out:
            return {"model": spec.name, "mode": mode, "error": f"jax profile: {out['error']}"}
        jax_profiles.append(out)
        torch_profiles.append(op_profile.profile_torch(torch_steps[(spec.name, mode, torch_impl)], s["steps"]))
    entry = op_profile.compare(spec.name, mode, jax_profiles, torch_profiles, "jax", torch_impl,
                               jax_row["median_ms"], timed[torch_impl]["median_ms"])
    gap = sorted(entry["difference"].items(), key=lambda kv: -abs(kv[1].get("diff_scaled_ms", kv[1]["diff_ms"])))
    torch_runner.log(f"{spec.name} {mode} op profile vs {torch_impl}: JAX - torch " + ", ".join(
        f"{g} {d.get('diff_scaled_ms', d['diff_ms']):+.1f} ms" for g, d in gap[:3]))
    return entry


def _slot_impls(spec, mode: str, impls: list, int8_files: dict, explicit_int8: bool) -> tuple[list, list]:
    """(impls measured in this slot, skipped rows): the int8 impls only in infer mode for entries with an int8
    file; where they do not apply, a skipped row when they were asked for by name, nothing when by default."""
    keep, skipped = [], []
    for impl in impls:
        if impl in INT8_IMPLS and (mode != "infer" or spec.name not in int8_files):
            if explicit_int8:
                why = ("int8 rows time inference only" if mode != "infer" else
                       f"{spec.model} has no int8 chain at these arguments (quant_stack: dncnn, fsrcnn)")
                skipped.append({"model": spec.name, "mode": mode, "impl": impl, "skipped": why})
            continue
        keep.append(impl)
    return keep, skipped


def _measure_slot(worker: "_JaxWorker", base: dict, spec, mode: str, impls: list, s: dict,
                  int8_files: dict | None = None, explicit_int8: bool = False,
                  profile_ops: bool = False) -> tuple[list, dict, dict | None]:
    """One model's one mode, interleaved: round 1 builds and times JAX then torch, rounds 2..R re-time the
    warm steps in the same order; with profile_ops, then the per-operation profiles (_profile_slot).
    Returns (rows, {model: {mode: flops}}, the op-profile entry or None)."""
    int8_files = int8_files or {}
    impls, failed = _slot_impls(spec, mode, impls, int8_files, explicit_int8)
    part = worker.ask({**base, "impls": [i for i in impls if i in JAX_IMPLS or i == "jax_int8"],
                       "models": [spec.name], "modes": [mode], "matmul_n": 0, "keep": True})
    jax_rows = {r["impl"]: r for r in part["rows"]}
    torch_rows, torch_steps = {}, {}
    for impl in (i for i in impls if i in TORCH_IMPLS or i == "torch_int8"):
        if impl == "torch_amp" and torch_runner.amp_unavailable():
            failed.append({"model": spec.name, "mode": mode, "impl": impl, "skipped": torch_runner.amp_unavailable()})
            continue
        try:
            torch_rows[impl] = torch_runner.measure(spec, mode, impl, s["steps"], s["warmup"], keep=torch_steps,
                                                    int8_file=int8_files.get(spec.name))
        except Exception as err:  # noqa: BLE001  one failure must not lose the other measurements
            import traceback
            traceback.print_exc()
            failed.append({"model": spec.name, "mode": mode, "impl": impl, "error": f"{type(err).__name__}: {err}"})
            continue
        row = torch_rows[impl]
        torch_runner.log(f"{spec.name} {mode} {impl}: median {row['median_ms']:.1f} ms, first call "
                         f"{row['compile_s']:.1f} s")
    keys = [[spec.name, mode, impl] for impl, r in jax_rows.items() if "median_ms" in r]
    try:
        for r in range(2, s["rounds"] + 1):
            if keys:
                times = worker.ask({"op": "round", "keys": keys, "steps": s["steps"]})["times_s"]
                for _, _, impl in keys:
                    t = times[f"{spec.name}|{mode}|{impl}"]
                    if isinstance(t, dict):
                        jax_rows[impl]["round_error"] = t["error"]
                    elif "round_error" not in jax_rows[impl]:
                        jax_rows[impl] = add_round(jax_rows[impl], t)
            for (_, _, impl), step in torch_steps.items():
                try:
                    torch_rows[impl] = add_round(torch_rows[impl], time_round(step, s["steps"]))
                except Exception as err:  # noqa: BLE001
                    torch_rows[impl]["round_error"] = f"{type(err).__name__}: {err}"
            torch_runner.log(f"{spec.name} {mode} round {r}/{s['rounds']}: " + ", ".join(
                f"{row['impl']} {row['rounds_ms'][-1]:.1f} ms" for row in [*jax_rows.values(), *torch_rows.values()]
                if row.get("rounds_ms")))
        entry = _profile_slot(worker, spec, mode, jax_rows, torch_rows, torch_steps, s) if profile_ops else None
    finally:
        worker.ask({"op": "release"})
        torch_steps.clear()
        gc.collect()
    return [*jax_rows.values(), *torch_rows.values(), *failed], part["flops"], entry


def run_bench(models=None, modes=MODES, impls=None, quick: bool = False, devices: int | None = None,
              size_scale: float = 1.0, steps: int | None = None, warmup: int | None = None,
              matmul_n: int | None = None, pipeline: bool = True, command: str = "jrestore bench",
              rounds: int | None = None, compute_dtype: str = "float32", profile_ops: bool = False,
              int8=None) -> dict:
    """Measure every (model, mode, impl) and return the result object (see the module docstring).
    compute_dtype: the JAX rows' (float32 | bfloat16; see jax_runner); torch's bfloat16 is the torch_amp impl.
    profile_ops: also profile each slot's jax step and best torch step per operation (result["op_profile"]:
    a list of jrestore.bench.op_profile.compare entries).
    int8: int8 files (jrestore quantize) for the int8 rows of their models (jrestore/bench/int8.py); the int8
    impls run with the default impls, or when named, or when a file is given."""
    specs = get_specs(models, quick=quick, size_scale=size_scale)  # unknown names: one ValueError first
    modes = list(dict.fromkeys(modes))
    explicit_int8 = bool(impls) and any(i in INT8_IMPLS for i in impls)
    impls = list(dict.fromkeys(impls or (QUICK_IMPLS if quick else DEFAULT_IMPLS) + INT8_IMPLS))
    if int8 and not any(i in INT8_IMPLS for i in impls):
        impls += list(INT8_IMPLS)
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"--compute-dtype: expected one of {list(COMPUTE_DTYPES)}, got {compute_dtype!r}")
    for m in modes:
        if m not in MODES:
            raise ValueError(f"--mode: expected 'train', 'infer' or 'both', got {m!r}")
    for i in impls:
        if i not in IMPLS:
            raise ValueError(f"--impl: unknown {i!r}; expected some of {list(IMPLS)}")
    devices = default_devices() if devices is None else devices
    if not isinstance(devices, int) or devices < 1:
        raise ValueError(f"--devices: expected a positive integer, got {devices!r}")
    s = settings(quick, steps, warmup, matmul_n, rounds)
    t_start = time.perf_counter()
    int8_dir = tempfile.TemporaryDirectory(prefix="jrestore_bench_int8_")
    int8_files = {}
    if "infer" in modes and any(i in INT8_IMPLS for i in impls):
        from jrestore.bench.int8 import int8_files as make_int8_files

        int8_files = make_int8_files(specs, int8, int8_dir.name)  # a bad --int8 file: one ValueError first

    import torch

    from jrestore.runtime import malloc_defaults_status, xla_defaults_status

    base = {"modes": modes, "impls": [i for i in impls if i in JAX_IMPLS], "quick": quick,
            "size_scale": size_scale, "devices": devices, "compute_dtype": compute_dtype, "int8_files": int8_files,
            **s}
    worker = _JaxWorker(devices)
    try:  # both peaks first, then model by model, mode by mode: JAX and torch interleaved in rounds
        jax_out = worker.ask({**base, "models": []})
        torch_gflops = torch_runner.matmul_peak(s["matmul_n"], s["matmul_reps"])
        torch_runner.log(f"{s['matmul_n']}^2 float32 matmul: {torch_gflops:.1f} GFLOP/s")
        rows, flops, profiles = [], {}, []
        for spec in specs:
            for mode in modes:
                # always ask the worker: the FLOP counts come from XLA even when no JAX impl is timed
                slot_rows, slot_flops, entry = _measure_slot(worker, base, spec, mode, impls, s, int8_files,
                                                             explicit_int8 or bool(int8), profile_ops)
                rows += slot_rows
                if entry is not None:
                    profiles.append(entry)
                for model, per_mode in slot_flops.items():
                    flops.setdefault(model, {}).update(per_mode)
    finally:
        worker.close()
        int8_dir.cleanup()

    peak = max(jax_out["matmul_gflops"], torch_gflops)
    # rows in a fixed order: model, mode, impl
    order = {(sp.name, m, i): k for k, (sp, m, i) in enumerate((sp, m, i) for sp in specs for m in modes for i in IMPLS)}
    rows.sort(key=lambda r: order.get((r["model"], r["mode"], r["impl"]), len(order)))
    rows = report.finish_rows(rows, flops, peak, compute_dtype)
    pipe = pipeline_rates(specs, rows, s["pipeline_steps"]) if pipeline and "train" in modes else []

    tdev = torch_runner.torch_device()
    jx = jax_out["jax"]
    dp = f" x{devices} devices for jax_dp" if "jax_dp" in impls else ""
    device = (f"{cpu_name()}, {default_devices()} cores; jax {jx['backend']} ({jx['device_kind']}){dp}; "
              f"torch {tdev.type}, {torch.get_num_threads()} threads")
    extra = {"pipeline": pipe, "matmul": {"n": s["matmul_n"], "jax_gflops": jax_out["matmul_gflops"],
                                          "torch_gflops": torch_gflops},
             "steps": s["steps"], "rounds": s["rounds"], "warmup": s["warmup"], "quick": quick,
             "size_scale": size_scale, "compute_dtype": compute_dtype,
             # what jrestore/runtime.py chose in this process; the JAX worker inherits its XLA_FLAGS
             "xla_settings": xla_defaults_status(),
             "malloc_settings": malloc_defaults_status(),  # this process's, and so the JAX worker's
             "sizes": {sp.name: sp.describe() for sp in specs}, "flops_source": "xla_cost_analysis (1-device JAX step)",
             "jax": jx, "torch": {"version": torch.__version__, "device": tdev.type, "threads": torch.get_num_threads()},
             "int8_files": {name: path if path in [str(p) for p in int8 or ()] else
                            "made by the run: torch.ao PTQ of the seeded model on a generated batch"
                            for name, path in int8_files.items()},
             "command": command, "wall_s": time.perf_counter() - t_start}
    if profile_ops:
        extra["op_profile"] = profiles
    return report.summary(device, peak, rows, extra, compute_dtype=compute_dtype)
