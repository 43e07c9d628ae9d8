"""scripts/device_bench --cpu: the accelerator benchmark's dry run on the CPU (tiny sizes, one eval image), so the
GPU run is one call away. Checks the output folder's files and JSON keys and that the numbers in them are
consistent with each other (percent of peak = GFLOP/s over the matching measured peak). No timing is judged."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
# one worker runs every test here, so the dry run (about 50 s) happens once, not once per xdist worker
pytestmark = pytest.mark.xdist_group("device_bench")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("device_bench") / "out"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JRESTORE_CACHE"] = str(out.parent / "cache")  # a user's --tune-xla choice must not matter here
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "device_bench"), "--cpu", str(out)], env=env,
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_dry_run_writes_every_file(dry_run):
    out, stdout = dry_run
    for name in ("summary.json", "summary.md", "env.json", "env.txt", "peaks.json", "eval.json",
                 "bench_fp32/bench.json", "bench_fp32/bench.md", "bench_fp32/bench.png", "bench_bf16/bench.json",
                 "logs/env.log", "logs/peaks.log", "logs/bench_fp32_espcn.log", "logs/bench_bf16.log",
                 "bench_fp32/espcn/bench.json", "eval.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert "# device_bench" in stdout and "| fp32 | espcn | train | jax | float32 |" in stdout


def test_dry_run_summary_is_consistent(dry_run):
    out, _ = dry_run
    s = json.loads((out / "summary.json").read_text())
    assert {"device", "cpu", "env", "peaks", "rows", "goals", "ratios", "ratios_best", "eval", "stages",
            "failed_stages", "ok"} <= set(s)
    assert s["ok"] is True and s["failed_stages"] == []
    assert all(st["status"] == "ok" for st in s["stages"].values()), s["stages"]
    env = json.loads((out / "env.json").read_text())
    assert env["jax_backend"] == "cpu" and env["torch"] and env["jax"] and "xla_settings" in env
    peaks = json.loads((out / "peaks.json").read_text())
    for k in ("float32", "tf32", "bfloat16"):
        assert peaks[f"peak_{k}_gflops"] == max(peaks[f"jax_{k}_gflops"], peaks[f"torch_{k}_gflops"]) > 0
    rows = {(r["run"], r["mode"], r["impl"]): r for r in s["rows"]}
    assert set(rows) == {("fp32", "train", "jax"), ("fp32", "train", "torch_channels_last"),
                         ("fp32", "infer", "jax"), ("fp32", "infer", "torch_channels_last"), ("bf16", "infer", "jax")}
    for (run, _, impl), r in rows.items():
        peak = peaks["peak_bfloat16_gflops"] if r["dtype"] == "bfloat16" else peaks["peak_tf32_gflops"]
        assert r["dtype"] == ("bfloat16" if run == "bf16" else "float32")
        assert r["pct_of_peak"] == pytest.approx(100 * r["gflops"] / peak)
        assert r["pct_of_fp32_peak"] == pytest.approx(100 * r["gflops"] / peaks["peak_float32_gflops"])
        assert r["median_ms"] > 0
        # the bf16 run's JAX row has no torch partner on a CPU (torch_amp is CUDA only)
        assert (r["ratio_best"] is None) if run == "bf16" else math.isfinite(r["ratio_best"])
    fp32 = json.loads((out / "bench_fp32" / "bench.json").read_text())
    assert s["ratios_best"]["fp32"] == fp32["ratios_best"] and fp32["rounds"] == 2
    assert fp32["ratio_stats"]["espcn"]["train"]["vs_best"]["torch_impl"] == "torch_channels_last"
    bf16 = json.loads((out / "bench_bf16" / "bench.json").read_text())
    assert bf16["compute_dtype"] == "bfloat16"
    skipped = [r for r in bf16["results"] if r["impl"] == "torch_amp"]
    assert skipped and "CUDA only" in skipped[0]["skipped"]  # the CPU has no AMP row: it says so


def test_dry_run_checks_a_published_psnr(dry_run):
    out, _ = dry_run
    ev = json.loads((out / "eval.json").read_text())
    if "skipped" in ev:
        pytest.skip(ev["skipped"])
    case = ev["cases"]["fsrcnn_x3_set5"]
    assert ev["ok"] is True and case["ok"] is True and case["jax"]["images"] == ["butterfly"]
    expected = json.loads((Path(ev["data"]) / "expected_psnr.json").read_text())["fsrcnn_x3_set5"]["per_image"]
    assert abs(case["jax"]["mean_psnr"] - expected["butterfly"]) <= ev["tolerance_db"]["per_image"]
