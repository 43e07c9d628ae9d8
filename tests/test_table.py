"""`jrestore table`: method-comparison tables (PSNR, SSIM, seconds per image) from real runs."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from jrestore.cli import main as jrestore_main
from jrestore.cli.table import parse_method
from jrestore.parity import tolerances


def _grey_folder(path, n=2, size=48):
    from skimage import data
    path.mkdir()
    img = data.camera()
    for i in range(n):
        Image.fromarray(img[40 * i:40 * i + size, 60:60 + size]).save(path / f"img{i}.png")
    return path


def _run(capsys, argv):
    capsys.readouterr()
    code = jrestore_main(argv)
    return code, capsys.readouterr()


def test_denoise_table_rows_cells_and_files(tmp_path, capsys):
    pytest.importorskip("bm3d")
    import jrestore.models
    from jrestore.convert.checkpoints import save_model_file

    folder = _grey_folder(tmp_path / "imgs")
    weights = save_model_file(tmp_path / "small_dncnn.safetensors", jrestore.models.get("dncnn", nc=8, nb=3), "dncnn",
                              {"nc": 8, "nb": 3})
    argv = ["table", "denoise", "--data", str(folder), "--sigma", "15", "25", "--method", "bm3d",
            "--method", f"dncnn={weights}@25", "--json", "--out", str(tmp_path / "t.csv")]
    code, out = _run(capsys, argv)
    assert code == 0, out.err
    table = json.loads(out.out)
    assert table["settings"] == ["15", "25"] and [r["method"] for r in table["rows"]] == [
        "bm3d", "dncnn (small_dncnn.safetensors)"]
    bm3d_row, dncnn_row = (r["results"] for r in table["rows"])
    assert set(bm3d_row) == {"15", "25"} and set(dncnn_row) == {"25"}  # @25: only where it was trained
    assert bm3d_row["15"]["psnr"] > bm3d_row["25"]["psnr"] and all(c["images"] == 2 for c in bm3d_row.values())
    assert all(c["seconds_per_image"] > 0 for c in bm3d_row.values())
    # a cell is `jrestore eval`'s mean for the same settings (the network: bm3d itself varies run to run)
    code, out = _run(capsys, ["eval", "--weights", str(weights), "--data", str(folder), "--protocol", "kair_dncnn",
                              "--sigma", "25", "--framework", "jax", "--json"])
    assert abs(json.loads(out.out)["results"]["jax"]["mean_psnr"] - dncnn_row["25"]["psnr"]) <= tolerances.METRIC_FLOAT32
    with open(tmp_path / "t.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["sigma"]) for r in rows] == [("bm3d", "15"), ("bm3d", "25"),
                                                         ("dncnn (small_dncnn.safetensors)", "25")]
    code, out = _run(capsys, argv)  # --out exists: refused before any work
    assert code == 2 and "already exists" in out.err


def test_cs_table_of_the_classical_solvers(tmp_path, capsys):
    folder = _grey_folder(tmp_path / "imgs", n=1, size=66)
    code, out = _run(capsys, ["table", "cs", "--data", str(folder), "--cs-ratio", "25", "--method", "ista",
                              "--method", "admm", "--out", str(tmp_path / "t.md")])
    assert code == 0, out.err
    text = (tmp_path / "t.md").read_text()
    assert out.out == text and "| ista |" in text and "| admm |" in text and "ratio % 25" in text


@pytest.mark.parametrize("text", ["dncnn=", "dncnn@", "=w.pth", "bm3d@x"])
def test_malformed_methods_are_one_clear_error(text):
    with pytest.raises(ValueError, match="--method"):
        parse_method(text)


def test_parse_method():
    assert parse_method("dncnn=runs/a@15,25") == {"label": "dncnn (a)", "model": "dncnn", "weights": "runs/a",
                                                 "only": [15.0, 25.0]}
    assert parse_method("bm3d") == {"label": "bm3d", "model": "bm3d", "weights": None, "only": None}


def test_per_setting_checkpoints_of_one_model_are_one_row():
    from jrestore.cli.table import merge_rows

    def row(label, model, weights, *settings):
        return {"method": label, "model": model, "results": {s: {"psnr": 1.0, "weights": weights} for s in settings}}

    rows = merge_rows([row("ista", "ista", None, "10", "25"),
                       row("ista_net_plus (net_params_200.pkl)", "ista_net_plus", "r10/net_params_200.pkl", "10"),
                       row("ista_net_plus (net_params_200.pkl)", "ista_net_plus", "r25/net_params_200.pkl", "25")])
    assert [r["method"] for r in rows] == ["ista", "ista_net_plus"]
    assert {s: c["weights"] for s, c in rows[1]["results"].items()} == {"10": "r10/net_params_200.pkl",
                                                                        "25": "r25/net_params_200.pkl"}
    # the same settings twice: two rows, told apart by their weights' folders
    rows = merge_rows([row("dncnn (w.pth)", "dncnn", "a/w.pth", "25"), row("dncnn (w.pth)", "dncnn", "b/w.pth", "25")])
    assert [r["method"] for r in rows] == ["dncnn (a/w.pth)", "dncnn (b/w.pth)"]
