"""Assembling the benchmark's results: derived numbers, JAX / PyTorch ratios with their spread, JSON, markdown, PNG.

Per row (model, mode, impl):
    images_per_s      images_per_step / median step time (over every round's timed steps)
    rounds_ms         each round's median step time (rounds alternate JAX and torch, run.py)
    gflop_per_step    XLA's cost-analysis FLOPs of the 1-device JAX step / 1e9; the same number is used for
                      jax_dp and every torch row (the same math; PyTorch has no equivalent count)
    gflops            achieved GFLOP/s = gflop_per_step / median seconds
    fraction_of_peak  gflops / peak_gflops, the best float32 matmul rate measured in this run (JAX or torch)
    ratio             images_per_s / torch_compile's images_per_s for the same model and mode
    ratio_best        images_per_s / the best PyTorch impl's images_per_s (see best_torch_impls)

Per model and mode, JAX = the faster of jax and jax_dp (by median images/s); each round r gives a ratio
JAX images/s in round r / the torch impl's images/s in round r, and
    ratio_stats[model][mode]["vs_compile"|"vs_best"] = {"median", "min", "max", "rounds": [...],
                     "within_noise", "jax_impl", "torch_impl"}
with within_noise = min <= 1 <= max (the JAX/torch order changed between rounds; None with one round).
ratios[model][mode] = the vs_compile median; ratios_best[model][mode] = the vs_best median (None when a side
is missing). The best PyTorch is the fastest (median images/s) of the float32 torch impls measured (eager
NCHW, channels_last, compile); when the JAX rows ran in bfloat16, torch_amp competes too.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["finish_rows", "ratios", "ratio_stats", "best_torch_impls", "summary", "markdown", "plot", "write_outputs"]

IMPL_ORDER = ("jax", "jax_dp", "torch_eager", "torch_channels_last", "torch_compile", "torch_amp", "jax_int8",
              "torch_int8")
NOISE_MARK = "≈"  # in the tables: the ratio's spread across rounds includes 1.0


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def best_torch_impls(compute_dtype: str = "float32") -> tuple[str, ...]:
    """The torch impls that compete for "best PyTorch": float32 ones, plus torch_amp when JAX runs bfloat16."""
    fp32 = ("torch_eager", "torch_channels_last", "torch_compile")
    return fp32 + ("torch_amp",) if compute_dtype != "float32" else fp32


def _row(rows, model, mode, impl):
    return next((r for r in rows if (r["model"], r["mode"], r["impl"]) == (model, mode, impl)
                 and "images_per_s" in r), None)


def _fastest(rows, model, mode, impls):
    found = [r for r in (_row(rows, model, mode, i) for i in impls) if r is not None]
    return max(found, key=lambda r: r["images_per_s"], default=None)


def finish_rows(rows: list[dict], flops: dict, peak_gflops: float, compute_dtype: str = "float32") -> list[dict]:
    """Add images_per_s, gflop_per_step, gflops, fraction_of_peak, ratio and ratio_best to the measured rows."""
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
        best = _fastest(out, r["model"], r["mode"], best_torch_impls(compute_dtype))
        if "images_per_s" in r:
            r["ratio"] = r["images_per_s"] / ref["images_per_s"] if ref else None
            r["ratio_best"] = r["images_per_s"] / best["images_per_s"] if best else None
    return out


def _round_rates(row) -> list[float]:
    return [row["images_per_step"] / (ms / 1e3) for ms in (row.get("rounds_ms") or [row["median_ms"]])]


def _pair_stats(jax_row, torch_row) -> dict | None:
    """Per-round JAX / torch images/s ratios of two rows and their median, range and noise verdict."""
    if jax_row is None or torch_row is None:
        return None
    a, b = _round_rates(jax_row), _round_rates(torch_row)
    n = min(len(a), len(b))
    per_round = [a[k] / b[k] for k in range(n)]
    srt = sorted(per_round)
    median = srt[n // 2] if n % 2 else (srt[n // 2 - 1] + srt[n // 2]) / 2
    return {"median": median, "min": srt[0], "max": srt[-1], "rounds": per_round,
            "within_noise": (srt[0] <= 1.0 <= srt[-1]) if n >= 2 else None,
            "jax_impl": jax_row["impl"], "torch_impl": torch_row["impl"]}


def ratio_stats(rows: list[dict], compute_dtype: str = "float32") -> dict:
    """{model: {mode: {"vs_compile": stats | None, "vs_best": stats | None}}} (see the module docstring)."""
    out: dict = {}
    for r in rows:
        if "images_per_s" in r:
            out.setdefault(r["model"], {}).setdefault(r["mode"], None)
    for model, modes in out.items():
        for mode in modes:
            jax_row = _fastest(rows, model, mode, ("jax", "jax_dp"))
            modes[mode] = {"vs_compile": _pair_stats(jax_row, _row(rows, model, mode, "torch_compile")),
                           "vs_best": _pair_stats(jax_row, _fastest(rows, model, mode,
                                                                     best_torch_impls(compute_dtype)))}
    return out


def ratios(rows: list[dict], against: str = "vs_compile", compute_dtype: str = "float32") -> dict:
    """{model: {mode: median over rounds of best-JAX images/s / torch images/s}}: against "vs_compile"
    (torch.compile) or "vs_best" (the best PyTorch); None where a side is missing."""
    return {model: {mode: (st[against] or {}).get("median") for mode, st in modes.items()}
            for model, modes in ratio_stats(rows, compute_dtype).items()}


def summary(device: str, peak_gflops: float, rows: list[dict], extra: dict, compute_dtype: str = "float32") -> dict:
    """The --json object: {"device", "peak_gflops", "results", "ratios", "ratios_best", "ratio_stats", ...extra}."""
    stats = ratio_stats(rows, compute_dtype)
    pick = {k: {model: {mode: (st[k] or {}).get("median") for mode, st in modes.items()}
                for model, modes in stats.items()} for k in ("vs_compile", "vs_best")}
    from jrestore.bench.int8 import int8_ratios

    return {"device": device, "peak_gflops": peak_gflops, "results": rows, "ratios": pick["vs_compile"],
            "ratios_best": pick["vs_best"], "ratio_stats": stats, "int8_ratios": int8_ratios(rows), **extra}


def _fmt(x, spec: str, missing: str = "-") -> str:
    return format(x, spec) if _finite(x) else missing


def _xla_line(result: dict) -> str:
    x = result.get("xla_settings") or {}
    if not x:
        return "not recorded"
    what = x.get("setting") or "jaxlib default"
    flags = x.get("flags") or "no flags added"
    return f"{what} [{flags}] ({x.get('source') or 'not applied'}: {x.get('reason', '')})"


def _malloc_line(result: dict) -> str:
    m = result.get("malloc_settings") or {}
    if not m:
        return "not recorded"
    return ("glibc mallopt " + ", ".join(f"{k}={v}" for k, v in m.get("settings", {}).items())) if m.get("applied") \
        else f"system default ({m.get('reason', '')})"


def _ratio_cell(st: dict | None, name: bool = False) -> str:
    """'0.87 (0.85-0.90) ≈ vs torch_channels_last' from a _pair_stats dict."""
    if not st:
        return "-"
    cell = f"{st['median']:.2f}"
    if len(st.get("rounds") or []) > 1:
        cell += f" ({st['min']:.2f}-{st['max']:.2f})"
    if st.get("within_noise"):
        cell += f" {NOISE_MARK}"
    if name:
        cell += f" vs {st['torch_impl'].removeprefix('torch_')}"
    return cell


def markdown(result: dict) -> str:
    """A markdown report: the main table, JAX / torch.compile ratios, the input pipeline, skipped rows."""
    lines = [f"# jrestore bench", "", f"- command: `{result.get('command', 'jrestore bench')}`",
             f"- device: {result['device']}",
             f"- peak: {_fmt(result['peak_gflops'], '.1f')} GFLOP/s (float32 {result.get('matmul', {}).get('n', '?')}^2 "
             f"matmul, best of JAX {_fmt(result.get('matmul', {}).get('jax_gflops'), '.1f')} and torch "
             f"{_fmt(result.get('matmul', {}).get('torch_gflops'), '.1f')})",
             f"- GFLOP per step from XLA's cost analysis of the 1-device JAX step, reused for every impl",
             f"- {result.get('rounds', 1)} round(s) of {result.get('steps', '?')} timed steps per impl, JAX and "
             f"torch alternating within each model's slot, after {result.get('warmup', '?')} warm-up call(s); "
             f"ratio = images/s over torch.compile's, ratio best = over the best PyTorch impl's",
             f"- JAX compute dtype: {result.get('compute_dtype', 'float32')}; XLA CPU settings: {_xla_line(result)}",
             f"- allocator (both frameworks): {_malloc_line(result)}",
             ""]
    lines += ["| model | mode | impl | median ms | p90 ms | round medians ms | images/s | GFLOP/s | % of peak | ratio | "
              "ratio best | first call s | peak RSS MB |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["results"]:
        if "images_per_s" not in r:
            continue
        frac = r.get("fraction_of_peak")
        rounds = " / ".join(f"{x:.1f}" for x in r.get("rounds_ms") or [])
        lines.append(f"| {r['model']} | {r['mode']} | {r['impl']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | "
                     f"{rounds or '-'} | {r['images_per_s']:.1f} | {_fmt(r.get('gflops'), '.1f')} | "
                     f"{_fmt(100 * frac if _finite(frac) else None, '.1f')} | {_fmt(r.get('ratio'), '.2f')} | "
                     f"{_fmt(r.get('ratio_best'), '.2f')} | {r['compile_s']:.1f} | {_fmt(r.get('peak_rss_mb'), '.0f')} |")
    stats = result.get("ratio_stats") or {}
    lines += ["", "## JAX (best of jax, jax_dp) over PyTorch, images/s: median of the per-round ratios (min-max)", "",
              f"{NOISE_MARK}: the ratio's range across rounds includes 1.0 (within noise). \"best\" is the fastest "
              f"of the PyTorch impls measured, named after the ratio.", "",
              "| model | train / torch.compile | train / best torch | infer / torch.compile | infer / best torch |",
              "|---|---:|---:|---:|---:|"]
    for model, modes in stats.items():
        cells = []
        for mode in ("train", "infer"):
            st = modes.get(mode) or {}
            cells += [_ratio_cell(st.get("vs_compile")), _ratio_cell(st.get("vs_best"), name=True)]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if result.get("int8_ratios"):
        lines += ["", "## INT8 against float32 inference (int8 images/s over float32's, per round: median (min-max))",
                  "", "| model | framework | int8 impl | float32 impl | int8 median ms | float32 median ms | int8 / float32 |",
                  "|---|---|---|---|---:|---:|---:|"]
        for model, per_fw in result["int8_ratios"].items():
            for fw, st in per_fw.items():
                cell = _ratio_cell({**st, "torch_impl": st["float_impl"]})
                lines.append(f"| {model} | {fw} | {st['int8_impl']} | {st['float_impl']} | {st['int8_ms']:.1f} | "
                             f"{st['float_ms']:.1f} | {cell} |")
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


def _ratio_panel(ax, stats: dict, modes) -> None:
    """JAX / best PyTorch per model and mode: bars at the median, whiskers over the rounds' min-max."""
    import numpy as np

    models = list(stats)
    width = 0.8 / max(len(modes), 1)
    for k, mode in enumerate(modes):
        st = [((stats[m].get(mode) or {}).get("vs_best") or {}) for m in models]
        med = np.array([s.get("median", np.nan) for s in st], float)
        lo = np.array([s.get("min", np.nan) for s in st], float)
        hi = np.array([s.get("max", np.nan) for s in st], float)
        x = np.arange(len(models)) + (k - (len(modes) - 1) / 2) * width
        ax.bar(x, med, width, label=f"{mode} (vs the best torch impl)")
        ax.errorbar(x, med, yerr=[np.nan_to_num(med - lo), np.nan_to_num(hi - med)], fmt="none", ecolor="k",
                    capsize=3, lw=1)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(models)), models)
    ax.set_ylabel("JAX / best torch, images/s")
    ax.set_title("ratio to the best PyTorch impl: median over rounds, min-max whiskers (>1: JAX faster)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)


def plot(result: dict, path) -> None:
    """bench.png: images/s per model (log scale), one bar per impl, a train and an infer panel."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in result["results"] if "images_per_s" in r]
    modes = [m for m in ("train", "infer") if any(r["mode"] == m for r in rows)] or ["train"]
    stats = result.get("ratio_stats") or {}
    fig, axes = plt.subplots(len(modes) + 1, 1, figsize=(11, 3.6 * (len(modes) + 1)), squeeze=False)
    _ratio_panel(axes[-1, 0], stats, modes)
    for ax, mode in zip(axes[:-1, 0], modes):
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
    """Write bench.json, bench.md and bench.png under out_dir (and op_profile.json, op_profile.md when the run
    profiled operations: --profile-ops); returns {kind: path}."""
    from jrestore._io import atomic_write, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "md": out / "bench.md", "png": out / "bench.png"}
    atomic_write_text(paths["json"], json.dumps(result, indent=1) + "\n")
    atomic_write_text(paths["md"], markdown(result))
    atomic_write(paths["png"], lambda tmp: plot(result, tmp))
    if "op_profile" in result:
        from jrestore.bench import op_profile

        paths.update(op_profile.write(result["op_profile"], out, result.get("command", ""), result["device"]))
    return paths
