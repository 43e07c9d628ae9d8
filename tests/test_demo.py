"""`jrestore demo` (the README's main job) runs offline and reports every number in both frameworks."""
from __future__ import annotations

import json

from jrestore.cli import main
from jrestore.parity.tolerances import PSNR_CROSS_FRAMEWORK_DB, PSNR_SHORT_RUN_DB, TRAIN_LOSS_LONG


def test_demo_runs_offline_and_agrees_across_frameworks(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--train-steps", "6"]) == 0
    out = capsys.readouterr().out
    assert "4. Training DnCNN" in out and "held-out 'camera'" in out
    report = json.loads((tmp_path / "demo.json").read_text())
    assert all(abs(r["psnr_jax"] - r["psnr_torch"]) < PSNR_CROSS_FRAMEWORK_DB
               for r in report["sr_bicubic"] + report["wiener"])
    test = {r["framework"]: r["psnr"] for r in report["training"]["test"]["results"]}
    assert abs(test["jax"] - test["torch"]) < PSNR_SHORT_RUN_DB  # 6 steps, not the demo's 150
    assert all(abs(r["loss_jax"] - r["loss_torch"]) <= TRAIN_LOSS_LONG * r["loss_torch"]
               for r in report["training"]["losses"])
    assert (tmp_path / "demo.png").stat().st_size > 10_000
