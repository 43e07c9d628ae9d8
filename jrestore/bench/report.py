"""Assembling the benchmark's results: derived numbers, JAX / torch.compile ratios, JSON, markdown, PNG.

Per row (model, mode, impl):
    images_per_s      images_per_step / median step time
    gflop_per_step    XLA's cost-analysis FLOPs of the 1-device JAX step / 1e9; the same number is used for
                      jax_dp and every torch row (the same math; PyTorch has no equivalent count)
    gflops            achieved GFLOP/s = gflop_per_step / median seconds
    fraction_of_peak  gflops / peak_gflops, the best float32 matmul rate measured in this run (JAX or torch)
    ratio             images_per_s / torch_compile's images_per_s for the same model and mode
ratios[model][mode] = max(jax, jax_dp images/s) / torch_compile images/s (None when either is missing).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["finish_rows", "ratios", "summary", "markdown", "plot", "write_outputs"]

IMPL_ORDER = ("jax", "jax_dp", "torch_eager", "torch_channels_last", "torch_compile")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def finish_rows(rows: list[dict], flops: dict, peak_gflops: float) -> list[dict]:
    """Add images_per_s, gflop_per_step, gflops, fraction_of_peak and ratio to the measured rows."""
    out = []
    for r in rows:
        r = dict(r)
        if "median_ms" in r:
            sec = r["median_ms"] / 1e3
            r["images_per_s"] = r["images_per_step"] / sec
            f = (flops.get(r["model"]) or {}).get(r["mode"])
            r["gflop_per_step"] = f / 1e9 if _finite(f) else None
            r["gflops"] = r["gflop_per_step"] / sec if r["gflop_per_step"] is not None else None
            r["fraction_of_peak"] = (r["gflops"] / peak_gflops
                                     if r["gflops"] is not None and _finite(peak_gflops) and peak_gflops > 0 else None)
        out.append(r)
    by_key = {(r["model"], r["mode"], r["impl"]): r for r in out if "images_per_s" in r}
    for r in out:
        ref = by_key.get((r["model"], r["mode"], "torch_compile"))
        if "images_per_s" in r:
            r["ratio"] = r["images_per_s"] / ref["images_per_s"] if ref else None
    return out


def ratios(rows: list[dict]) -> dict:
    """{model: {mode: best JAX images/s over torch.compile's}} for every model and mode measured."""
    out: dict = {}
    for r in rows:
        if "images_per_s" not in r:
            continue
        out.setdefault(r["model"], {}).setdefault(r["mode"], None)
    for model, modes in out.items():
        for mode in modes:
            def ips(impl):
                return next((r["images_per_s"] for r in rows if (r["model"], r["mode"], r["impl"]) == (model, mode, impl)
                             and "images_per_s" in r), None)
            jax_best = max((v for v in (ips("jax"), ips("jax_dp")) if v is not None), default=None)
            tc = ips("torch_compile")
            modes[mode] = jax_best / tc if jax_best is not None and tc else None
    return out


def summary(device: str, peak_gflops: float, rows: list[dict], extra: dict) -> dict:
    """The --json object: {"device", "peak_gflops", "results", "ratios", ...extra}."""
    return {"device": device, "peak_gflops": peak_gflops, "results": rows, "ratios": ratios(rows), **extra}


def _fmt(x, spec: str, missing: str = "-") -> str:
    return format(x, spec) if _finite(x) else missing


def markdown(result: dict) -> str:
    """A markdown report: the main table, JAX / torch.compile ratios, the input pipeline, skipped rows."""
    lines = [f"# jrestore bench", "", f"- command: `{result.get('command', 'jrestore bench')}`",
             f"- device: {result['device']}",
             f"- peak: {_fmt(result['peak_gflops'], '.1f')} GFLOP/s (float32 {result.get('matmul', {}).get('n', '?')}^2 "
             f"matmul, best of JAX {_fmt(result.get('matmul', {}).get('jax_gflops'), '.1f')} and torch "
             f"{_fmt(result.get('matmul', {}).get('torch_gflops'), '.1f')})",
             f"- GFLOP per step from XLA's cost analysis of the 1-device JAX step, reused for every impl",
             f"- {result.get('steps', '?')} timed steps after {result.get('warmup', '?')} warm-up call(s); "
             f"ratio = images/s over torch.compile's", ""]
    lines += ["| model | mode | impl | median ms | p90 ms | images/s | GFLOP/s | % of peak | ratio | first call s | peak RSS MB |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["results"]:
        if "images_per_s" not in r:
            continue
        frac = r.get("fraction_of_peak")
        lines.append(f"| {r['model']} | {r['mode']} | {r['impl']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
                     f"{r['images_per_s']:.1f} | {_fmt(r.get('gflops'), '.1f')} | "
                     f"{_fmt(100 * frac if _finite(frac) else None, '.1f')} | {_fmt(r.get('ratio'), '.2f')} | "
                     f"{r['compile_s']:.1f} | {_fmt(r.get('peak_rss_mb'), '.0f')} |")
    lines += ["", "## JAX (best of jax, jax_dp) over torch.compile, images/s", "", "| model | train | infer |",
              "|---|---:|---:|"]
    for model, modes in result["ratios"].items():
        lines.append(f"| {model} | {_fmt(modes.get('train'), '.2f')} | {_fmt(modes.get('infer'), '.2f')} |")
    if result.get("pipeline"):
        lines += ["", "## Input pipeline vs train step (target: pipeline >= 3x the step rate)", "",
                  "| model | recipe | source | pipeline batches/s | train steps/s (best JAX) | ratio |",
                  "|---|---|---|---:|---:|---:|"]
        for p in result["pipeline"]:
            lines.append(f"| {p['model']} | {p.get('recipe', '-')} | {p.get('source', '-')} | "
                         f"{_fmt(p.get('batches_per_s'), '.2f')} | {_fmt(p.get('train_steps_per_s'), '.2f')} | "
                         f"{_fmt(p.get('ratio'), '.2f', p.get('error', '-'))} |")
    odd = [r for r in result["results"] if "images_per_s" not in r]
    if odd:
        lines += ["", "## Not measured", ""]
        lines += [f"- {r['model']} {r['mode']} {r['impl']}: {r.get('skipped') or r.get('error')}" for r in odd]
    return "\n".join(lines) + "\n"


def plot(result: dict, path) -> None:
    """bench.png: images/s per model (log scale), one bar per impl, a train and an infer panel."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in result["results"] if "images_per_s" in r]
    modes = [m for m in ("train", "infer") if any(r["mode"] == m for r in rows)] or ["train"]
    fig, axes = plt.subplots(len(modes), 1, figsize=(11, 3.6 * len(modes)), squeeze=False)
    for ax, mode in zip(axes[:, 0], modes):
        models = list(dict.fromkeys(r["model"] for r in rows if r["mode"] == mode))
        impls = [i for i in IMPL_ORDER if any(r["impl"] == i and r["mode"] == mode for r in rows)]
        width = 0.8 / max(len(impls), 1)
        for k, impl in enumerate(impls):
            vals = [next((r["images_per_s"] for r in rows if (r["model"], r["mode"], r["impl"]) == (m, mode, impl)),
                         np.nan) for m in models]
            ax.bar(np.arange(len(models)) + (k - (len(impls) - 1) / 2) * width, vals, width, label=impl)
        ax.set_xticks(np.arange(len(models)), models)
        ax.set_yscale("log")
        ax.set_ylabel("images/s")
        ax.set_title(f"{mode}")
        ax.grid(axis="y", alpha=0.3, which="both")
        ax.legend(fontsize=8, ncol=len(impls))
    fig.suptitle(f"jrestore bench: {result['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(result: dict, out_dir) -> dict:
    """Write bench.json, bench.md and bench.png under out_dir; returns {kind: path}."""
    from jrestore._io import atomic_write, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "md": out / "bench.md", "png": out / "bench.png"}
    atomic_write_text(paths["json"], json.dumps(result, indent=1) + "\n")
    atomic_write_text(paths["md"], markdown(result))
    atomic_write(paths["png"], lambda tmp: plot(result, tmp))
    return paths
