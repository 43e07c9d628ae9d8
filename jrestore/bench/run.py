"""The benchmark driver: JAX in a subprocess with N host devices, then PyTorch here, then the input pipeline.

    result = run_bench(models=["dncnn"], modes=("train", "infer"), quick=False, devices=2)
    result -> {"device", "peak_gflops", "results": [row, ...], "ratios": {model: {mode: x}}, "pipeline": [...],
               "matmul", "steps", "warmup", "quick", "sizes", "jax", "torch", "command"}

Order on the machine: both float32 matmul peaks; then model by model, its JAX rows (`jax`, `jax_dp`, in a
persistent worker subprocess) and then its torch rows, so a model's JAX and torch numbers are taken minutes
apart at most; then the input pipelines. One measurement at a time: the worker idles while torch runs.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

from jrestore.bench import report, torch_runner
from jrestore.bench.specs import IMPLS, JAX_IMPLS, QUICK_IMPLS, MODES, TORCH_IMPLS, get_specs, train_config

__all__ = ["run_bench", "default_devices", "cpu_name", "xla_flags_with_devices", "pipeline_rates", "settings"]

FULL = {"steps": 10, "warmup": 2, "matmul_n": 4096, "matmul_reps": 5, "pipeline_steps": 20}
QUICK = {"steps": 10, "warmup": 1, "matmul_n": 2048, "matmul_reps": 3, "pipeline_steps": 10}


def settings(quick: bool, steps: int | None = None, warmup: int | None = None, matmul_n: int | None = None) -> dict:
    """Timed steps, warm-up calls and matmul size: FULL, or QUICK with --quick; explicit values override."""
    s = dict(QUICK if quick else FULL)
    for key, value in (("steps", steps), ("warmup", warmup), ("matmul_n", matmul_n)):
        if value is not None:
            if not isinstance(value, int) or value < (1 if key != "warmup" else 0):
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
        env = dict(os.environ, XLA_FLAGS=xla_flags_with_devices(os.environ.get("XLA_FLAGS", ""), devices))
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


def run_bench(models=None, modes=MODES, impls=None, quick: bool = False, devices: int | None = None,
              size_scale: float = 1.0, steps: int | None = None, warmup: int | None = None,
              matmul_n: int | None = None, pipeline: bool = True, command: str = "jrestore bench") -> dict:
    """Measure every (model, mode, impl) and return the result object (see the module docstring)."""
    specs = get_specs(models, quick=quick, size_scale=size_scale)  # unknown names: one ValueError first
    modes = list(dict.fromkeys(modes))
    impls = list(dict.fromkeys(impls or (QUICK_IMPLS if quick else IMPLS)))
    for m in modes:
        if m not in MODES:
            raise ValueError(f"--mode: expected 'train', 'infer' or 'both', got {m!r}")
    for i in impls:
        if i not in IMPLS:
            raise ValueError(f"--impl: unknown {i!r}; expected some of {list(IMPLS)}")
    devices = default_devices() if devices is None else devices
    if not isinstance(devices, int) or devices < 1:
        raise ValueError(f"--devices: expected a positive integer, got {devices!r}")
    s = settings(quick, steps, warmup, matmul_n)
    t_start = time.perf_counter()

    import torch

    base = {"modes": modes, "impls": [i for i in impls if i in JAX_IMPLS], "quick": quick,
            "size_scale": size_scale, "devices": devices, **s}
    worker = _JaxWorker(devices)
    try:  # both peaks first, then model by model: JAX (1 device, data-parallel), then the torch impls
        jax_out = worker.ask({**base, "models": []})
        torch_gflops = torch_runner.matmul_peak(s["matmul_n"], s["matmul_reps"])
        torch_runner.log(f"{s['matmul_n']}^2 float32 matmul: {torch_gflops:.1f} GFLOP/s")
        rows, flops = [], {}
        for spec in specs:
            # always ask: the FLOP counts come from XLA even when no JAX impl is timed
            part = worker.ask({**base, "models": [spec.name], "matmul_n": 0})
            rows += part["rows"]
            flops.update(part["flops"])
            for mode in modes:
                for impl in (i for i in impls if i in TORCH_IMPLS):
                    try:
                        row = torch_runner.measure(spec, mode, impl, s["steps"], s["warmup"])
                    except Exception as err:  # noqa: BLE001  one failure must not lose the other measurements
                        import traceback
                        traceback.print_exc()
                        rows.append({"model": spec.name, "mode": mode, "impl": impl,
                                     "error": f"{type(err).__name__}: {err}"})
                        continue
                    rows.append(row)
                    torch_runner.log(f"{spec.name} {mode} {impl}: median {row['median_ms']:.1f} ms, first call "
                                     f"{row['compile_s']:.1f} s")
    finally:
        worker.close()

    peak = max(jax_out["matmul_gflops"], torch_gflops)
    # rows in a fixed order: model, mode, impl
    order = {(sp.name, m, i): k for k, (sp, m, i) in enumerate((sp, m, i) for sp in specs for m in modes for i in IMPLS)}
    rows.sort(key=lambda r: order.get((r["model"], r["mode"], r["impl"]), len(order)))
    rows = report.finish_rows(rows, flops, peak)
    pipe = pipeline_rates(specs, rows, s["pipeline_steps"]) if pipeline and "train" in modes else []

    tdev = torch_runner.torch_device()
    jx = jax_out["jax"]
    dp = f" x{devices} devices for jax_dp" if "jax_dp" in impls else ""
    device = (f"{cpu_name()}, {default_devices()} cores; jax {jx['backend']} ({jx['device_kind']}){dp}; "
              f"torch {tdev.type}, {torch.get_num_threads()} threads")
    extra = {"pipeline": pipe, "matmul": {"n": s["matmul_n"], "jax_gflops": jax_out["matmul_gflops"],
                                          "torch_gflops": torch_gflops},
             "steps": s["steps"], "warmup": s["warmup"], "quick": quick, "size_scale": size_scale,
             "sizes": {sp.name: sp.describe() for sp in specs}, "flops_source": "xla_cost_analysis (1-device JAX step)",
             "jax": jx, "torch": {"version": torch.__version__, "device": tdev.type, "threads": torch.get_num_threads()},
             "command": command, "wall_s": time.perf_counter() - t_start}
    return report.summary(device, peak, rows, extra)
