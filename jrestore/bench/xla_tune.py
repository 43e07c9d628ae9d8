"""`jrestore bench --tune-xla`: choose the XLA CPU flags by measurement on the running CPU and cache the winner.

Each candidate of CANDIDATES runs in its own process (XLA reads XLA_FLAGS once, when its CPU backend starts;
an unknown flag aborts that process only) with JRESTORE_XLA_DEFAULTS=0, so exactly the candidate's flags
apply. The process times PROBE_MODEL's `jrestore bench --quick` steps (DnCNN-17: the trainer's own jitted train
step, and the eval-mode forward), as the bench builds them.
Candidates run in rounds (A B C D, A B C D, ...) so a drift of the machine's speed hits them alike; a
candidate's score is its median train ms + median infer ms over the rounds. The winner must beat the
incumbent (jrestore's measured default, runtime.CPU_CONV_FLAG) by more than MARGIN, else the incumbent
stays: a difference inside the noise of a loaded machine is no reason to change.

    record = tune(rounds=2, steps=5)      # measures, then jrestore.runtime.store_xla_setting(record)
    python -m jrestore.bench.xla_tune --probe STEPS WARMUP   # one candidate's process: one JSON line
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from jrestore import runtime

__all__ = ["CANDIDATES", "INCUMBENT", "MARGIN", "PROBE_MODEL", "probe", "measure_candidates", "choose", "tune"]

CANDIDATES = {
    # jaxlib 0.10's own choice: convolutions in a single-core YNNPACK fusion
    "jaxlib_default": "",
    # jrestore's default: convolutions back on XLA's multi-threaded Eigen path
    "eigen_conv": runtime.CPU_CONV_FLAG,
    # the same, with oneDNN thunks and oneDNN's dot and elementwise fusions (jaxlib 0.10.2 has no oneDNN
    # convolution fusion type: LIBRARY_FUSION_TYPE_{DOT,ELTWISE,INDIVIDUAL_DOT,REDUCE} only)
    "eigen_conv_onednn": (f"{runtime.CPU_CONV_FLAG} --xla_cpu_use_onednn=true "
                          "--xla_cpu_experimental_onednn_custom_call=true "
                          "--xla_cpu_experimental_onednn_fusion_type=dot,eltwise"),
    # no YNN fusions at all (dots and elementwise ops back on XLA's own emitters too)
    "no_ynn": "--xla_cpu_experimental_ynn_fusion_type=",
}
INCUMBENT = "eigen_conv"
MARGIN = 0.05  # a challenger must be > 5 % faster than the incumbent (timings on a shared CPU vary that much)
# A real model's step, not a stand-in: a bare stack of lax convolutions (the probe until 2026-12-03) missed
# the oneDNN FFI convolutions, BatchNorm's statistics and the 1-channel end layers, and picked no_ynn on this
# machine (36.8 against eigen_conv's 44.9 ms) where DnCNN's --quick train step then ran 1.7x slower (465 against
# 275 ms, quiet). DnCNN-17 has all of them: 64-channel 3x3 convolutions, train-mode BatchNorm, ReLU, 1-channel
# input and output layers.
PROBE_MODEL = "dncnn"


def _log(msg: str) -> None:
    print(f"[bench tune-xla] {msg}", file=sys.stderr, flush=True)


def probe(steps: int, warmup: int, model: str = PROBE_MODEL) -> dict:
    """In this process (its XLA flags already set): {"train_ms", "infer_ms"} medians of `steps` timed calls
    of `model`'s `jrestore bench --quick` train step (the trainer's own) and infer step, after one compiling
    call and `warmup` more."""
    from jrestore.bench.jax_runner import jax_infer, jax_train
    from jrestore.bench.measure import time_steps
    from jrestore.bench.specs import get_specs

    spec = get_specs([model], quick=True)[0]
    return {"train_ms": time_steps(jax_train(spec, 1)[0], steps, warmup)["median_ms"],
            "infer_ms": time_steps(jax_infer(spec, 1)[0], steps, warmup)["median_ms"]}


def _run_probe(flags: str, steps: int, warmup: int, timeout_s: float = 300) -> dict:
    """One candidate's process: {"train_ms", "infer_ms"} or {"error"}."""
    env = dict(os.environ, XLA_FLAGS=flags, JRESTORE_XLA_DEFAULTS="0")
    try:
        proc = subprocess.run([sys.executable, "-m", "jrestore.bench.xla_tune", "--probe", str(steps), str(warmup)],
                              env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:300]}"}
    return json.loads(lines[-1])


def measure_candidates(candidates: dict | None = None, rounds: int = 2, steps: int = 5, warmup: int = 1,
                       run_probe=None) -> dict:
    """{name: {"flags", "train_ms": [per round], "infer_ms": [per round]} or {"flags", "error"}}, the
    candidates interleaved round by round. run_probe(flags, steps, warmup) -> {"train_ms", "infer_ms"} |
    {"error"} (a fake in tests; default: a real process per call)."""
    run_probe = run_probe or _run_probe
    candidates = dict(CANDIDATES if candidates is None else candidates)
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds: expected an integer >= 1, got {rounds!r}")
    out = {name: {"flags": flags, "train_ms": [], "infer_ms": []} for name, flags in candidates.items()}
    for r in range(rounds):
        for name, flags in candidates.items():
            if "error" in out[name]:
                continue  # a flag this jaxlib rejects fails every time
            m = run_probe(flags, steps, warmup)
            if "error" in m:
                out[name] = {"flags": flags, "error": m["error"]}
                _log(f"{name}: {m['error']}")
                continue
            out[name]["train_ms"].append(m["train_ms"])
            out[name]["infer_ms"].append(m["infer_ms"])
            _log(f"round {r + 1}/{rounds} {name}: train {m['train_ms']:.1f} ms, infer {m['infer_ms']:.1f} ms")
    return out


def _median(values) -> float:
    v = sorted(values)
    k = len(v) // 2
    return v[k] if len(v) % 2 else (v[k - 1] + v[k]) / 2


def choose(measured: dict, incumbent: str = INCUMBENT, margin: float = MARGIN) -> dict:
    """The winner of measure_candidates()'s output: {"name", "flags", "score_ms": {name: score}, "why"}.

    score = median train ms + median infer ms over the rounds. The fastest candidate wins when it beats the
    incumbent's score by more than `margin` (a fraction); otherwise the incumbent stays. When the incumbent
    did not run (its flag unknown to this jaxlib), the fastest wins. ValueError when no candidate ran.
    """
    scores = {name: _median(m["train_ms"]) + _median(m["infer_ms"]) for name, m in measured.items()
              if "error" not in m and m.get("train_ms") and m.get("infer_ms")}
    if not scores:
        errors = "; ".join(f"{n}: {m.get('error', 'no timings')}" for n, m in measured.items())
        raise ValueError(f"measured: no candidate ran ({errors})")
    fastest = min(scores, key=scores.get)
    if incumbent in scores and fastest != incumbent and scores[fastest] > scores[incumbent] * (1 - margin):
        name = incumbent
        why = (f"{fastest} ({scores[fastest]:.1f} ms) is within {margin:.0%} of {incumbent} "
               f"({scores[incumbent]:.1f} ms): keeping {incumbent}")
    elif fastest == incumbent:
        name, why = fastest, f"{fastest} was fastest ({scores[fastest]:.1f} ms)"
    else:
        name = fastest
        ref = (f", more than {margin:.0%} faster than {incumbent} ({scores[incumbent]:.1f} ms)"
               if incumbent in scores else f" ({incumbent} did not run)")
        why = f"{fastest} was fastest ({scores[fastest]:.1f} ms){ref}"
    return {"name": name, "flags": measured[name]["flags"], "score_ms": scores, "why": why}


def _busy_warning() -> str | None:
    """A warning when the 1-minute load average exceeds the usable cores: other work then slows multi-threaded
    code (Eigen's convolutions) more than single-threaded code (YNNPACK's), so the choice may not hold on a
    quiet machine. None when the machine looks quiet (or the load is unknown)."""
    try:
        load = os.getloadavg()[0]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    except OSError:
        return None
    if load <= cores:
        return None
    msg = (f"load average {load:.1f} on {cores} core(s): a busy machine favours single-threaded code, so this "
           f"choice may not hold when it is quiet; run --tune-xla again then")
    _log(msg)
    return msg


def tune(rounds: int = 2, steps: int = 5, warmup: int = 1, candidates: dict | None = None, cache_path=None,
         run_probe=None) -> dict:
    """Measure the candidates, choose, store the winner for this machine; returns the stored record
    {"name", "flags", "why", "score_ms", "measured", "measured_at", "probe", "cache", "cpu", "isa", "jaxlib"}."""
    t0 = time.perf_counter()
    load = _busy_warning()
    measured = measure_candidates(candidates, rounds, steps, warmup, run_probe)
    pick = choose(measured)
    record = {**pick, "measured": measured, "rounds": rounds, "steps": steps,
              "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "probe": PROBE_MODEL,
              "wall_s": round(time.perf_counter() - t0, 1), "busy_warning": load or _busy_warning()}
    identity = runtime.machine_identity()
    path = runtime.store_xla_setting(record, identity, cache_path)
    _log(f"chose {pick['name']}: {pick['why']}; stored in {path}")
    return {**record, **identity, "cache": str(path)}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "--probe":
        print("usage: python -m jrestore.bench.xla_tune --probe STEPS WARMUP   (one JSON line on stdout)",
              file=sys.stderr)
        return 2
    print(json.dumps(probe(int(argv[1]), int(argv[2]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
