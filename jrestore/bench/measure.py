"""Framework-free timing: first call (compile/warm-up), warm-up calls, timed steps, spread, RSS peak.

    with RssPeak() as mem:          # samples this process's resident set every 2 ms in a thread
        build(...)
        t = time_steps(step, steps=10, warmup=2, mem=mem)
    t -> {"compile_s", "median_ms", "min_ms", "p90_ms", "iqr_ms", "max_ms", "steps", "times_ms", "peak_rss_mb"}
    later rounds (the same step, warm, after the other framework's round):
        t = add_round(t, time_round(step, steps=10))   # + "rounds_ms" (each round's median); stats over all

`step()` must return only after the device finished (jax.block_until_ready / torch sync): timings are
wall-clock around each call. peak_rss_mb is the highest RSS during the timed steps minus the RSS before
the model was built (weights, optimizer state, activations, compiled code), from the sampler; memory the
allocator reused from earlier measurements is not counted again, so compare rows of one run with care.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

__all__ = ["RssPeak", "time_steps", "time_round", "add_round", "summarize", "rss_bytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """This process's resident set size now (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        import psutil
        return psutil.Process().memory_info().rss


class RssPeak:
    """Context manager: a daemon thread records the peak RSS; `reset()` starts a new window."""

    def __init__(self, interval_s: float = 0.002):
        self.interval_s = interval_s
        self.baseline = rss_bytes()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, rss_bytes())

    def reset(self) -> None:
        self.peak = rss_bytes()

    def delta_mb(self) -> float:
        """Peak of the current window minus the RSS when the sampler started, in MiB."""
        # clamped at 0: memory freed by earlier measurements can leave the RSS below the start
        return max(0.0, (max(self.peak, rss_bytes()) - self.baseline) / 2**20)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def summarize(times_s) -> dict:
    """Median and spread of per-step wall times (seconds in, milliseconds out)."""
    ms = np.asarray(times_s, np.float64) * 1e3
    q1, med, q3, p90 = np.percentile(ms, [25, 50, 75, 90])
    return {"median_ms": float(med), "min_ms": float(ms.min()), "p90_ms": float(p90), "iqr_ms": float(q3 - q1),
            "max_ms": float(ms.max()), "steps": int(ms.size), "times_ms": [round(float(t), 3) for t in ms]}


def time_steps(step, steps: int, warmup: int, mem: RssPeak | None = None) -> dict:
    """Call step() once (timed as compile_s: tracing, compilation and the first run), `warmup` more times
    untimed, then `steps` times, each timed on its own."""
    if steps < 1:
        raise ValueError(f"steps: expected at least 1 timed step, got {steps}")
    t0 = time.perf_counter()
    step()
    compile_s = time.perf_counter() - t0
    for _ in range(max(warmup, 0)):
        step()
    if mem is not None:
        mem.reset()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    out = {"compile_s": compile_s, **summarize(times)}
    out["rounds_ms"] = [out["median_ms"]]
    if mem is not None:
        out["peak_rss_mb"] = mem.delta_mb()
    return out


def time_round(step, steps: int) -> list[float]:
    """One more round of an already warm step: `steps` calls, each timed on its own (seconds)."""
    if steps < 1:
        raise ValueError(f"steps: expected at least 1 timed step, got {steps}")
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def add_round(timing: dict, times_s) -> dict:
    """`timing` (time_steps' dict, maybe with rounds added before) with one more round of step times: the
    median, percentiles and times_ms cover every round; rounds_ms lists each round's median (ms)."""
    rounds = [list(r) for r in timing.get("round_times_ms") or [timing["times_ms"]]]
    rounds.append([round(float(t) * 1e3, 3) for t in times_s])
    flat = [t / 1e3 for r in rounds for t in r]
    return {**timing, **summarize(flat), "round_times_ms": rounds,
            "rounds_ms": [float(np.median(r)) for r in rounds]}


def matmul_gflops(matmul, n: int, reps: int) -> float:
    """GFLOP/s of the fastest of `reps` calls of matmul() (a synchronised n x n @ n x n float32 product),
    after one untimed call: 2 n^3 flops each."""
    matmul()
    best = min(_timed(matmul) for _ in range(max(reps, 1)))
    return 2.0 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
