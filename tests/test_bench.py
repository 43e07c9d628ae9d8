"""`jrestore bench`: the CLI in-process at a tiny size (JSON schema, markdown and PNG written), XLA's FLOP
count of a convolution against the analytic count, the sizes and options, and one clear error for a bad model.
No test here times anything against a target: the numbers only have to be finite."""
import json
import math

import numpy as np
import pytest

from jrestore.bench import report
from jrestore.bench.run import settings, xla_flags_with_devices
from jrestore.bench.specs import IMPLS, SPECS, get_specs, make_batch
from jrestore.cli import main
from jrestore.parity.tolerances import FLOP_COUNT_REL


@pytest.fixture(scope="module")
def espcn_run(tmp_path_factory):
    """One tiny run of every impl (ESPCN x3 infer, 16 images of 1x4x4, 2 timed steps): (stdout JSON, out dir)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("bench")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["bench", "--quick", "--model", "espcn", "--mode", "infer", "--json", "--out", str(out), "--impl", *IMPLS,
                   "--size-scale", "0.25", "--steps", "2", "--warmup", "0", "--matmul-n", "256", "--devices", "2"])
    assert rc == 0
    return json.loads(buf.getvalue()), out


def test_cli_json_schema(espcn_run):
    result, _ = espcn_run
    assert {"device", "peak_gflops", "results", "ratios"} <= set(result)
    assert isinstance(result["device"], str) and math.isfinite(result["peak_gflops"]) and result["peak_gflops"] > 0
    rows = result["results"]
    assert [r["impl"] for r in rows] == list(IMPLS)
    for r in rows:
        assert (r["model"], r["mode"]) == ("espcn", "infer")
        for key in ("median_ms", "images_per_s", "gflops", "fraction_of_peak", "min_ms", "p90_ms", "compile_s",
                    "gflop_per_step", "peak_rss_mb", "ratio"):
            assert math.isfinite(r[key]), (r["impl"], key, r[key])
        assert r["median_ms"] > 0 and r["steps"] == 2 and r["images_per_step"] == 16
    # one FLOP count for every impl: the same math
    assert len({r["gflop_per_step"] for r in rows}) == 1
    assert set(result["ratios"]) == {"espcn"} and math.isfinite(result["ratios"]["espcn"]["infer"])
    best_jax = max(r["images_per_s"] for r in rows if r["impl"].startswith("jax"))
    tc = next(r["images_per_s"] for r in rows if r["impl"] == "torch_compile")
    assert result["ratios"]["espcn"]["infer"] == pytest.approx(best_jax / tc)
    assert result["sizes"]["espcn"]["infer_input"] == "1x4x4"


def test_cli_writes_json_markdown_png(espcn_run):
    result, out = espcn_run
    assert json.loads((out / "bench.json").read_text())["ratios"] == result["ratios"]
    md = (out / "bench.md").read_text()
    assert "| model | mode | impl | median ms |" in md and "| espcn | infer | torch_compile |" in md
    png = (out / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


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
    assert settings(False)["steps"] >= 10 and settings(True)["steps"] >= 10
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
    assert done[1]["gflops"] == pytest.approx(40.0) and done[1]["fraction_of_peak"] == pytest.approx(0.4)
    assert done[3]["gflops"] is None  # no FLOP count for that mode: no GFLOP/s rather than a wrong one


def test_srgan_rows_time_the_trainers_gan_step(capsys):
    """The srgan train rows run train/gan.py's step through Trainer (JAX) and TorchTrainer (torch), one model's
    requests through the persistent JAX worker; XLA counts more FLOPs than the generator's step alone."""
    assert main(["bench", "--quick", "--model", "srgan", "--mode", "train", "--json", "--impl", "jax",
                 "torch_eager", "--size-scale", "0.5", "--steps", "1", "--warmup", "0", "--matmul-n", "128",
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
