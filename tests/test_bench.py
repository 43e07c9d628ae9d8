"""`jrestore bench`: the CLI in-process at a tiny size (JSON schema, markdown and PNG written), XLA's FLOP
count of a convolution against the analytic count, the sizes and options, and one clear error for a bad model.
No test here times anything against a target: the numbers only have to be finite."""
import json
import math

import numpy as np
import pytest

from jrestore.bench import report
from jrestore.bench.run import settings, xla_flags_with_devices
from jrestore.bench.specs import DEFAULT_IMPLS, IMPLS, SPECS, get_specs, make_batch
from jrestore.cli import main
from jrestore.parity.tolerances import FLOP_COUNT_REL


@pytest.fixture(scope="module")
def espcn_run(tmp_path_factory):
    """One tiny run of every default impl (ESPCN x3 infer, 16 images of 1x4x4, 2 rounds of 2 timed steps), with
    the per-operation profiles (--profile-ops): (stdout JSON, out dir)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("bench")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["bench", "--quick", "--model", "espcn", "--mode", "infer", "--json", "--out", str(out), "--impl",
                   *DEFAULT_IMPLS, "--size-scale", "0.25", "--steps", "2", "--rounds", "2", "--warmup", "0",
                   "--matmul-n", "256", "--devices", "2", "--profile-ops"])
    assert rc == 0
    return json.loads(buf.getvalue()), out


def test_cli_json_schema(espcn_run):
    result, _ = espcn_run
    assert {"device", "peak_gflops", "results", "ratios", "ratios_best", "ratio_stats", "xla_settings"} <= set(result)
    assert isinstance(result["device"], str) and math.isfinite(result["peak_gflops"]) and result["peak_gflops"] > 0
    assert (result["rounds"], result["steps"], result["compute_dtype"]) == (2, 2, "float32")
    assert {"applied", "reason", "setting", "flags", "source"} <= set(result["xla_settings"])
    # called as a library (main with argv), the allocator is left alone, and so is the JAX worker's
    assert result["malloc_settings"] == {"applied": False, "reason": "not run"}
    rows = result["results"]
    assert [r["impl"] for r in rows] == list(DEFAULT_IMPLS)
    for r in rows:
        assert (r["model"], r["mode"]) == ("espcn", "infer")
        for key in ("median_ms", "images_per_s", "gflops", "fraction_of_peak", "min_ms", "p90_ms", "compile_s",
                    "gflop_per_step", "peak_rss_mb", "ratio", "ratio_best"):
            assert math.isfinite(r[key]), (r["impl"], key, r[key])
        # 2 rounds of 2 steps: the statistics cover all 4, rounds_ms holds each round's median
        assert r["median_ms"] > 0 and r["steps"] == 4 and len(r["times_ms"]) == 4 and r["images_per_step"] == 16
        assert r["rounds_ms"] == [pytest.approx(float(np.median(t))) for t in r["round_times_ms"]]
        assert [len(t) for t in r["round_times_ms"]] == [2, 2]
    # one FLOP count for every impl: the same math
    assert len({r["gflop_per_step"] for r in rows}) == 1
    assert set(result["ratios"]) == {"espcn"} and math.isfinite(result["ratios"]["espcn"]["infer"])
    # the ratios, recomputed from the rows: per round, best JAX images/s over the torch impl's, then the median
    by = {r["impl"]: r for r in rows}
    jax_row = max((r for r in rows if r["impl"].startswith("jax")), key=lambda r: r["images_per_s"])
    best = max((r for r in rows if r["impl"].startswith("torch")), key=lambda r: r["images_per_s"])

    def per_round(ref):
        return [ref_ms / jax_ms for jax_ms, ref_ms in zip(jax_row["rounds_ms"], ref["rounds_ms"])]

    vs_tc, vs_best = per_round(by["torch_compile"]), per_round(best)
    assert result["ratios"]["espcn"]["infer"] == pytest.approx(float(np.median(vs_tc)))
    assert result["ratios_best"]["espcn"]["infer"] == pytest.approx(float(np.median(vs_best)))
    st = result["ratio_stats"]["espcn"]["infer"]["vs_best"]
    assert st["torch_impl"] == best["impl"] and st["jax_impl"] == jax_row["impl"]
    assert st["rounds"] == pytest.approx(vs_best) and st["min"] == pytest.approx(min(vs_best))
    assert st["within_noise"] is (min(vs_best) <= 1.0 <= max(vs_best))
    assert result["sizes"]["espcn"]["infer_input"] == "1x4x4"


def test_cli_writes_json_markdown_png(espcn_run):
    result, out = espcn_run
    assert json.loads((out / "bench.json").read_text())["ratios_best"] == result["ratios_best"]
    md = (out / "bench.md").read_text()
    assert "| model | mode | impl | median ms |" in md and "| espcn | infer | torch_compile |" in md
    assert "| model | train / torch.compile | train / best torch |" in md
    best = result["ratio_stats"]["espcn"]["infer"]["vs_best"]
    assert f"{best['median']:.2f} ({best['min']:.2f}-{best['max']:.2f})" in md
    assert f"vs {best['torch_impl'].removeprefix('torch_')}" in md and "XLA CPU settings:" in md
    assert "allocator (both frameworks): system default (not run)" in md
    png = (out / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_cli_profile_ops_writes_both_frameworks_categories(espcn_run):
    """--profile-ops: one entry for the slot, the jax step against the best torch impl of the run, each side's
    category shares summing to 1 with ESPCN's three convolutions in conv_forward, and op_profile.json / .md."""
    result, out = espcn_run
    (entry,) = result["op_profile"]
    assert (entry["model"], entry["mode"]) == ("espcn", "infer")
    best = result["ratio_stats"]["espcn"]["infer"]["vs_best"]["torch_impl"]
    assert entry["jax"]["impl"] == "jax" and entry["torch"]["impl"] == best
    for side in ("jax", "torch"):
        cats = entry[side]["categories"]
        assert math.fsum(c["share"] for c in cats.values()) == pytest.approx(1.0)
        assert cats["conv_forward"]["ms"] > 0 and not cats["conv_filter_grad"]["ms"]  # infer: no gradients
        assert entry[side]["steps"] == 4 and entry[side]["top"] and math.isfinite(entry[side]["profiled_step_ms"])
    by = {r["impl"]: r for r in result["results"]}
    assert entry["jax"]["bench_median_ms"] == by["jax"]["median_ms"]
    assert entry["torch"]["bench_median_ms"] == by[best]["median_ms"]
    d = entry["difference"]["conv_forward"]
    assert d["diff_ms"] == pytest.approx(d["jax_ms"] - d["torch_ms"])
    assert json.loads((out / "op_profile.json").read_text())["entries"] == result["op_profile"]
    md = (out / "op_profile.md").read_text()
    assert f"## espcn infer: jax against {best}" in md and "| convolution forward |" in md
    assert "--profile-ops" in result["command"]


def test_xla_flops_of_one_conv_match_the_analytic_count():
    import jax
    import jax.numpy as jnp
    from jrestore.bench.jax_runner import xla_flops

    b, h, w, cin, cout, k = 4, 32, 32, 16, 24, 3
    x = jnp.zeros((b, h, w, cin), jnp.float32)
    kern = jnp.zeros((k, k, cin, cout), jnp.float32)

    def conv(x, kern):
        return jax.lax.conv_general_dilated(x, kern, (1, 1), [(1, 1), (1, 1)],
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    flops = xla_flops(jax.jit(conv).lower(x, kern).compile())
    analytic = 2 * b * h * w * cin * cout * k * k
    assert flops == pytest.approx(analytic, rel=FLOP_COUNT_REL)


def test_unknown_model_is_one_clear_error(capsys):
    assert main(["bench", "--model", "espcn", "nope", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "'nope'" in err and "dncnn" in err and err.startswith("jrestore bench: error: --model")


def test_quick_sizes_and_settings():
    full, quick = get_specs(), {s.name: s for s in get_specs(quick=True)}
    assert [s.name for s in full] == list(SPECS)
    assert SPECS["dncnn"].batch == 16 and SPECS["dncnn"].input_hw == (64, 64)
    assert quick["dncnn"].input_hw == (32, 32) and quick["dncnn"].batch == 16
    assert quick["ista_net_plus"].input_hw == (33, 33) and quick["ista_net_plus"].batch == 16
    assert quick["wasa"].input_hw == (24, 24) and quick["srgan"].kwargs["d_input_size"] == 48
    assert quick["srcnn"].infer_hw() == (48, 48)  # SRCNN infers on the upsampled image
    b = make_batch(quick["srresnet"], "train")
    assert b["input"].shape == (16, 12, 12, 3) and b["target"].shape == (16, 48, 48, 3)
    assert b["input"].dtype == np.float32 and 0 <= b["input"].min() and b["input"].max() <= 1
    for quick in (False, True):  # at least 9 timed calls per row, in 3 or more JAX/torch rounds
        assert settings(quick)["steps"] * settings(quick)["rounds"] >= 9 and settings(quick)["rounds"] >= 3
    assert settings(True, rounds=5)["rounds"] == 5
    with pytest.raises(ValueError, match="--rounds"):
        settings(True, rounds=0)
    with pytest.raises(ValueError, match="--steps"):
        settings(True, steps=0)
    with pytest.raises(ValueError, match="--size-scale"):
        get_specs(size_scale=0)


def test_xla_flags_keep_user_flags():
    flags = xla_flags_with_devices("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution "
                                   "--xla_force_host_platform_device_count=8", 2)
    assert flags.split() == ["--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
                             "--xla_force_host_platform_device_count=2"]


def test_ratios_use_best_jax_and_missing_torch_compile():
    rows = [{"model": "m", "mode": "train", "impl": i, "median_ms": ms, "images_per_step": 10, "p90_ms": ms,
             "compile_s": 0.0} for i, ms in (("jax", 100.0), ("jax_dp", 50.0), ("torch_compile", 80.0))]
    rows.append({"model": "m", "mode": "infer", "impl": "jax", "median_ms": 10.0, "images_per_step": 10,
                 "p90_ms": 10.0, "compile_s": 0.0})
    done = report.finish_rows(rows, {"m": {"train": 2e9}}, peak_gflops=100.0)
    assert report.ratios(done) == {"m": {"train": pytest.approx(80 / 50), "infer": None}}
    stats = report.ratio_stats(done)["m"]["train"]["vs_compile"]
    assert stats["within_noise"] is None and stats["jax_impl"] == "jax_dp"  # one round: no spread to judge
    assert done[1]["gflops"] == pytest.approx(40.0) and done[1]["fraction_of_peak"] == pytest.approx(0.4)
    assert done[3]["gflops"] is None  # no FLOP count for that mode: no GFLOP/s rather than a wrong one


def test_srgan_rows_time_the_trainers_gan_step(capsys):
    """The srgan train rows run train/gan.py's step through Trainer (JAX) and TorchTrainer (torch), one model's
    requests through the persistent JAX worker; XLA counts more FLOPs than the generator's step alone."""
    assert main(["bench", "--quick", "--model", "srgan", "--mode", "train", "--json", "--impl", "jax",
                 "torch_eager", "--size-scale", "0.5", "--steps", "1", "--rounds", "1", "--warmup", "0", "--matmul-n", "128",
                 "--no-pipeline"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {r["impl"]: r for r in result["results"]}
    assert set(rows) == {"jax", "torch_eager"} and all(math.isfinite(r["median_ms"]) for r in rows.values())
    assert result["sizes"]["srgan"]["train_input"] == "3x8x8"
    assert rows["jax"]["gflop_per_step"] > 0


def test_peak_only_request_measures_no_model():
    import io
    from jrestore.bench import jax_runner

    req = {"models": [], "modes": ["train"], "impls": ["jax"], "quick": True, "size_scale": 1.0, "steps": 1,
           "warmup": 0, "devices": 1, "matmul_n": 64, "matmul_reps": 1}
    replies = io.StringIO()
    jax_runner.serve([json.dumps(req), ""], replies)
    out = json.loads(replies.getvalue())
    assert out["rows"] == [] and out["flops"] == {} and out["matmul_gflops"] > 0


def _rows(model, mode, per_impl_rounds, images=8):
    return [{"model": model, "mode": mode, "impl": impl, "images_per_step": images, "rounds_ms": list(ms),
             "median_ms": float(np.median(ms)), "p90_ms": max(ms), "compile_s": 0.0}
            for impl, ms in per_impl_rounds.items()]


def test_ratios_best_name_the_fastest_torch_and_judge_the_noise():
    rows = _rows("m", "train", {"jax": [100, 90, 110], "torch_eager": [200, 200, 200],
                                "torch_channels_last": [95, 100, 105], "torch_compile": [120, 120, 130],
                                "torch_amp": [10, 10, 10]})
    done = report.finish_rows(rows, {}, peak_gflops=1.0)
    result = report.summary("cpu", 1.0, done, {})
    best = result["ratio_stats"]["m"]["train"]["vs_best"]
    # channels_last is the fastest float32 impl (median 100 ms); torch_amp (bfloat16) does not compete
    assert best["torch_impl"] == "torch_channels_last"
    assert best["rounds"] == pytest.approx([95 / 100, 100 / 90, 105 / 110])
    assert best["median"] == pytest.approx(105 / 110) and best["within_noise"] is True
    assert result["ratios_best"]["m"]["train"] == pytest.approx(105 / 110)
    tc = result["ratio_stats"]["m"]["train"]["vs_compile"]
    assert tc["rounds"] == pytest.approx([1.2, 120 / 90, 130 / 110]) and tc["within_noise"] is False
    assert result["ratios"]["m"]["train"] == pytest.approx(1.2)  # the median of 1.2, 1.33, 1.18
    assert done[0]["ratio_best"] == pytest.approx(100 / 100)  # the row's own: medians 100 and 100
    # JAX in bfloat16: torch_amp competes and wins
    bf16 = report.summary("cpu", 1.0, report.finish_rows(rows, {}, 1.0, "bfloat16"), {}, compute_dtype="bfloat16")
    assert bf16["ratio_stats"]["m"]["train"]["vs_best"]["torch_impl"] == "torch_amp"
    md = report.markdown({**result, "command": "x"})
    assert "| m | 1.20 (1.18-1.33) | 0.95 (0.95-1.11) ≈ vs channels_last | - | - |" in md


def test_torch_amp_and_jax_bfloat16_steps_run(monkeypatch):
    """The mixed-precision paths device_bench times on a GPU, exercised on the CPU at a tiny size: torch_amp
    (normally CUDA only) and the JAX rows with compute_dtype bfloat16 (the infer step computes in bfloat16)."""
    from jrestore.bench import jax_runner, torch_runner

    spec = get_specs(["espcn"], quick=True, size_scale=0.25)[0]
    assert torch_runner.amp_unavailable() is not None  # this CPU machine: torch_amp is skipped by default
    monkeypatch.setattr(torch_runner, "AMP_DEVICES", ("cuda", "cpu"))
    for mode in ("train", "infer"):
        row = torch_runner.measure(spec, mode, "torch_amp", steps=1, warmup=0)
        assert row["impl"] == "torch_amp" and math.isfinite(row["median_ms"])
    _, aot, _, args = jax_runner.jax_infer(spec, 1, "bfloat16")
    text = aot.jitted.lower(*args()).as_text()
    assert "bf16" in text and "xbf16" in text.replace(" ", "")  # bfloat16 tensors in the lowered step
    row, flops = jax_runner.measure(spec, "train", "jax", 1, 1, 0, "bfloat16")
    assert math.isfinite(row["median_ms"]) and flops > 0
