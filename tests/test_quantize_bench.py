"""`jrestore bench`'s int8 rows (jrestore/bench/int8.py): jax_int8 and torch_int8 beside the float32 rows, from a
given int8 file or one made on the fly, the int8 / float32 ratios in the JSON and the markdown, and clear refusals.
One tiny in-process run (tests/test_bench.py style); nothing is timed against a target."""
from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
import torch

import torch_ref.models as tmodels
import torch_ref.quantize as tq
from jrestore.bench import report
from jrestore.cli import main
from jrestore.core.quantize import quant_stack, save_int8_file

TINY_DNCNN = dict(nc=8, nb=3, act_mode="R")


@pytest.fixture(scope="module")
def int8_run(tmp_path_factory):
    """dncnn (with a given tiny int8 file) and fsrcnn (int8 made on the fly), infer, at 4x4 inputs, 2 rounds
    of 1 step: (JSON result, out dir, the given file)."""
    tmp = tmp_path_factory.mktemp("bench_int8")
    torch.manual_seed(0)
    net = tmodels.get("dncnn", **TINY_DNCNN).eval()
    stack = quant_stack("dncnn", TINY_DNCNN)
    _, tensors = tq.ptq(net, stack, [torch.rand(2, 1, 8, 8)])
    given = save_int8_file(tmp / "tiny.int8.safetensors", tensors, model="dncnn", kwargs=TINY_DNCNN, method="ptq",
                           framework="torch")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["bench", "--quick", "--model", "dncnn", "fsrcnn", "--mode", "infer", "--json", "--out",
                   str(tmp / "out"), "--impl", "jax", "torch_eager", "--int8", str(given), "--size-scale", "0.125",
                   "--steps", "1", "--rounds", "2", "--warmup", "0", "--matmul-n", "64", "--devices", "1",
                   "--no-pipeline"])
    assert rc == 0
    return json.loads(buf.getvalue()), tmp / "out", str(given)


def test_int8_rows_run_beside_the_float_rows(int8_run):
    result, _, given = int8_run
    rows = {(r["model"], r["impl"]): r for r in result["results"]}
    for model in ("dncnn", "fsrcnn"):
        for impl in ("jax", "torch_eager", "jax_int8", "torch_int8"):
            row = rows[(model, impl)]
            assert math.isfinite(row["median_ms"]) and row["median_ms"] > 0 and len(row["rounds_ms"]) == 2, row
    # --int8 given: both frameworks ran that file; fsrcnn's was made by the run (no file left behind)
    assert rows[("dncnn", "jax_int8")]["int8_file"] == given == rows[("dncnn", "torch_int8")]["int8_file"]
    assert result["int8_files"]["dncnn"] == given and result["int8_files"]["fsrcnn"].startswith("made by the run")


def test_int8_impls_apply_to_int8_chains_in_infer_mode_only():
    from jrestore.bench.int8 import supports_int8
    from jrestore.bench.run import _slot_impls
    from jrestore.bench.specs import get_specs

    dncnn, espcn = get_specs(["dncnn", "espcn"], quick=True)
    assert supports_int8(dncnn) and not supports_int8(espcn)  # dncnn's BN network quantises BN-folded
    impls = ["jax", "jax_int8", "torch_int8"]
    assert _slot_impls(dncnn, "infer", impls, {"dncnn": "f"}, True) == (impls, [])
    # by default the int8 impls are left out quietly where they do not apply; asked for by name, a row says why
    assert _slot_impls(espcn, "infer", impls, {"dncnn": "f"}, False) == (["jax"], [])
    kept, skipped = _slot_impls(espcn, "infer", impls, {"dncnn": "f"}, True)
    assert kept == ["jax"] and [r["impl"] for r in skipped] == ["jax_int8", "torch_int8"]
    assert all("no int8 chain" in r["skipped"] for r in skipped)
    kept, skipped = _slot_impls(dncnn, "train", impls, {"dncnn": "f"}, True)
    assert kept == ["jax"] and all("inference only" in r["skipped"] for r in skipped)


def test_int8_ratios_are_the_per_round_images_per_second_ratios(int8_run):
    result, out, _ = int8_run
    rows = {(r["model"], r["impl"]): r for r in result["results"]}
    for model in ("dncnn", "fsrcnn"):
        for fw, float_impl in (("jax", "jax"), ("torch", "torch_eager")):
            st = result["int8_ratios"][model][fw]
            assert (st["int8_impl"], st["float_impl"]) == (f"{fw}_int8", float_impl)
            per_round = [f / i for i, f in zip(rows[(model, f"{fw}_int8")]["rounds_ms"],
                                               rows[(model, float_impl)]["rounds_ms"])]
            assert st["rounds"] == pytest.approx(per_round)
            assert st["median"] == pytest.approx(float(np.median(per_round)))
            assert st["within_noise"] is (min(per_round) <= 1 <= max(per_round))
    md = (out / "bench.md").read_text()
    assert "## INT8 against float32 inference" in md
    st = result["int8_ratios"]["fsrcnn"]["torch"]
    assert f"| fsrcnn | torch | torch_int8 | torch_eager | {st['int8_ms']:.1f} | {st['float_ms']:.1f} | {st['median']:.2f}" in md
    assert json.loads((out / "bench.json").read_text())["int8_ratios"] == result["int8_ratios"]


def test_torch_int8_falls_back_to_the_fastest_float_torch_row():
    rows = [{"model": "m", "mode": "infer", "impl": i, "images_per_step": 4, "rounds_ms": [ms, ms],
             "median_ms": ms, "p90_ms": ms, "compile_s": 0.0}
            for i, ms in (("torch_channels_last", 40.0), ("torch_compile", 20.0), ("torch_int8", 10.0))]
    result = report.summary("cpu", 1.0, report.finish_rows(rows, {}, 1.0), {})
    st = result["int8_ratios"]["m"]["torch"]
    assert st["float_impl"] == "torch_compile" and st["median"] == pytest.approx(2.0)
    assert "jax" not in result["int8_ratios"]["m"]  # no jax_int8 row: no ratio rather than a wrong one


def test_int8_option_refuses_a_float_file_in_one_line(tmp_path, capsys):
    path = tmp_path / "float.safetensors"
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(2, np.float32)}, str(path))
    assert main(["bench", "--quick", "--model", "dncnn", "--mode", "infer", "--int8", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jrestore bench: error: --int8") and "int8" in err
