"""Training on the data a user points at (issue 14, item 3), end to end through the trainer: a folder given by
data.path alone, a paired (degraded/clean) folder recipe, and a tfds recipe prepared offline from a folder.
Each run is runlocal-sized; what it trained on is read back from the data state its checkpoint records."""
from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train.config import load_config
from train.trainer import Trainer

pytestmark = pytest.mark.xdist_group("train_runs")


def _recorded_source(workdir: Path) -> dict:
    """The data source the iterator reported, as the last checkpoint stored it (its data state)."""
    last = max((p for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return json.loads((last / "data" / "metadata").read_text())["source"]


def _losses(workdir: Path) -> list[float]:
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def _grey_folder(path: Path, n: int = 4, size: int = 48) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(path / f"img{i}.png")
    return path


@pytest.fixture(scope="module")
def data_path_run(tmp_path_factory):
    """dncnn_s25:runlocal with `--set data.path=DIR` and nothing else (plus val.source='' only where the
    reference data, and so Set12, is absent), its stdout going to a file as a piped run's does:
    (DIR, workdir, overrides, the run's last metrics, the Trainer, the stdout file). Module-scoped so that
    further checks of a trained workdir can share this one run."""
    from jrestore.data.paths import data_dir

    root = tmp_path_factory.mktemp("data_path_run")
    folder = _grey_folder(root / "mine")
    overrides = [f"data.path={folder}"]
    if data_dir() is None or not (data_dir() / "denoise" / "Set12").is_dir():
        overrides.append("val.source=''")
    cfg = load_config("dncnn_s25:runlocal", overrides)
    stdout = root / "stdout.txt"
    with open(stdout, "w") as f, contextlib.redirect_stdout(f):
        trainer = Trainer(cfg, root / "run", progress=False)
        last = trainer.run()
    return folder, root / "run", overrides, last, trainer, stdout


def test_dncnn_runlocal_trains_on_data_path_alone(data_path_run, tmp_path):
    """The run reads DIR (not Train400, not the skimage photos): the iterator's reported source, as its
    checkpoint stored it, is DIR; and a too-small image added to DIR is what the trainer's iterator refuses."""
    folder, workdir, overrides, last, _, _ = data_path_run
    assert last["step"] == 40 and math.isfinite(last["loss"])
    assert _recorded_source(workdir) == {"source": "folder", "path": str(folder.resolve()), "images": 4}
    mine = tmp_path / "mine"
    mine.mkdir()
    for p in folder.iterdir():
        (mine / p.name).write_bytes(p.read_bytes())
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(mine / "tiny.png")  # below the 40x40 patch
    with pytest.raises(ValueError, match=r"tiny.png \(20x20\)"):
        Trainer(load_config("dncnn_s25:runlocal", [f"data.path={mine}", *overrides[1:]]), tmp_path / "run",
                progress=False)._iterator()


def test_paired_folder_recipe_trains(tmp_path):
    """dncnn_real:runlocal on clean/noisy RGB folders matched by name (real noise stands in as fixed noise)."""
    rng = np.random.default_rng(1)
    gt_dir, lq_dir = tmp_path / "clean", tmp_path / "noisy"
    gt_dir.mkdir()
    lq_dir.mkdir()
    for i in range(3):
        clean = rng.integers(40, 216, (24, 24, 3)).astype(np.uint8)
        noisy = np.clip(clean + rng.normal(0, 15, clean.shape), 0, 255).round().astype(np.uint8)
        Image.fromarray(clean).save(gt_dir / f"s{i}.png")
        Image.fromarray(noisy).save(lq_dir / f"s{i}.png")
    cfg = load_config("dncnn_real:runlocal", [f"data.path={gt_dir}", f"data.lq_path={lq_dir}", "val.source=folder",
                                              f"val.path={gt_dir}", f"val.lq_path={lq_dir}"])
    last = Trainer(cfg, tmp_path / "run", progress=False).run()
    assert last["step"] == 3 and all(math.isfinite(v) for v in _losses(tmp_path / "run"))
    assert 10 < last["val_psnr"] < 40  # scored on the noisy/clean pairs (the noisy input alone: about 24.6 dB)
    assert _recorded_source(tmp_path / "run") == {"source": "paired", "path": str(gt_dir.resolve()), "images": 3,
                                                  "lq_path": str(lq_dir.resolve())}


def test_tfds_recipe_trains_from_a_folder_prepared_offline(tmp_path, monkeypatch):
    """The folder -> restoration_folder (array_record) -> tfds.data_source + grain -> the trainer, with every
    network connection refused (tfds must never try to download)."""
    pytest.importorskip("tensorflow_datasets")
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    for name in ("create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    from train.data.tfds_folder import main as prepare_main

    folder = _grey_folder(tmp_path / "imgs", n=3)
    data_dir = tmp_path / "tfds"
    prepare_main([str(folder), "--data_dir", str(data_dir)])
    cfg = load_config("dncnn_s25_tfds:runlocal", [f"data.data_dir={data_dir}", "train.steps=3", "train.ckpt_every=3",
                                                  "val.source=''"])
    last = Trainer(cfg, tmp_path / "run", progress=False).run()
    assert last["step"] == 3 and math.isfinite(last["loss"])
    assert _recorded_source(tmp_path / "run") == {"source": "tfds", "name": "restoration_folder", "split": "train",
                                                  "data_dir": str(data_dir), "images": 3}


@pytest.mark.parametrize("sets, message", [
    (["data.source='skimage'", "data.path=DIR"],
     "data.path: set to 'DIR', but the 'skimage' source does not read it (it reads names); unset it "
     "(--set data.path='') or pick the source that reads it; leave data.source unset ('') to choose the source "
     "from the settings"),
    (["data.path=DIR", "data.split=test"],
     "data.split: set to 'test', but the 'folder' source does not read it (it reads path, cache, lq_path, "
     "filename_tmpl); unset it (--set data.split='') or pick the source that reads it"),
])
def test_a_data_setting_that_cannot_take_effect_is_a_one_line_cli_error(tmp_path, capfd, sets, message):
    from jrestore.cli import main

    argv = ["train", "--config", "srresnet_x4:runlocal", "--workdir", str(tmp_path / "w")]
    for item in sets:
        argv += ["--set", item.replace("DIR", str(tmp_path))]
    capfd.readouterr()
    rc = main(argv)
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and err == [f"jrestore train: error: {message.replace('DIR', str(tmp_path))}"]
    assert not (tmp_path / "w").exists()  # refused before anything was written


def test_a_trained_workdir_is_a_model_and_a_log_people_can_follow(data_path_run, tmp_path, capfd):
    """Issue 14's run-to-model check: the workdir holds config.json, train.log, model.safetensors (and
    best.safetensors once validation ran); restore and eval take --weights WORKDIR without --model;
    jrestore.load(WORKDIR) computes what the trainer's own model computes; the piped stdout has the banner,
    one plain line per log step and the validation lines."""
    import jrestore
    from jrestore.cli import main as jrestore_main
    from jrestore.convert.checkpoints import read_safetensors_metadata

    folder, workdir, overrides, last, trainer, stdout = data_path_run
    validated = not any(o.startswith("val.source") for o in overrides)
    for name in ("config.json", "train.log", "model.safetensors") + (("best.safetensors",) if validated else ()):
        assert (workdir / name).is_file(), name
    assert json.loads((workdir / "config.json").read_text())["data"]["path"] == str(folder)
    meta = read_safetensors_metadata(workdir / "model.safetensors")
    assert meta["model"] == "dncnn" and meta["step"] == 40 and meta["recipe"] == "dncnn_s25"

    piped = stdout.read_text().splitlines()
    assert piped[0].startswith("jrestore train: recipe dncnn_s25") and "4 images" in piped[0], piped[0]
    assert piped[1] == "starting at step 0"
    assert [ln.split()[1] for ln in piped if ln.startswith("step ") and "loss" in ln] == [
        f"{s}/40" for s in range(5, 41, 5)]
    if validated:
        assert sum("validation: PSNR" in ln for ln in piped) == 2
    logged = (workdir / "train.log").read_text()
    assert all(ln in logged for ln in piped[:3])

    # the trainer's own (EMA-free) model and the loaded file agree exactly on an image
    x = np.random.default_rng(0).uniform(0, 1, (1, 24, 20, 1)).astype(np.float32)
    loaded = jrestore.load(workdir)
    assert np.array_equal(np.asarray(loaded(x)), np.asarray(trainer.current_model()(x)))

    Image.fromarray((x[0, :, :, 0] * 255).round().astype(np.uint8)).save(tmp_path / "in.png")
    capfd.readouterr()
    assert jrestore_main(["restore", "--weights", str(workdir), str(tmp_path / "in.png"), str(tmp_path / "out.png")]) == 0
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (24, 20)
    capfd.readouterr()
    assert jrestore_main(["eval", "--weights", str(workdir), "--data", str(folder), "--protocol", "kair_dncnn",
                          "--sigma", "25", "--json", "--framework", "jax"]) == 0
    report = json.loads(capfd.readouterr().out)
    assert report["model"] == "dncnn" and math.isfinite(report["results"]["jax"]["mean_psnr"]), report
