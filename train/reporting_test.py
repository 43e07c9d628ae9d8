"""What a person sees of a run: the TensorBoard events read back from disk (tags, values, the sample image, the
hparams), the sample grid's labels and documented size, and curves.png's input baseline."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from train import reporting


def _samples(n=2, h=48, w=40, seed=0):
    """n (input, output, target) triples [h, w, 3] in [0, 1]; the input at half size (as an SR input)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        target = rng.random((h, w, 3), dtype=np.float32)
        out.append((target[::2, ::2], np.clip(target + 0.05, 0, 1), target))
    return out


def _scalars(events) -> dict:
    return {(v.tag, e.step): v.simple_value for e in events for v in e.summary.value if v.HasField("simple_value")}


def test_metrics_log_writes_train_and_val_scalars_the_sample_image_and_hparams(tmp_path):
    from PIL import Image
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    hparams = {"recipe": "dncnn_s25:runlocal", "optim.lr": 1e-3, "train.steps": 40, "data.augment": True,
               "model.kwargs.act_mode": "BR", "val.limit": None, "data.sizes": [1, 2]}
    log = reporting.MetricsLog(tmp_path, hparams=hparams)
    log.write({"step": 5, "loss": 0.25, "lr": 1e-3, "grad_norm": 3.5, "steps_per_s": 12.0})
    log.write({"step": 5, "val_psnr": 24.5, "val_ssim": 0.75, "val_input_psnr": 20.25})
    grid_path = reporting.sample_grid_path(tmp_path, 5)
    reporting.save_sample_grid(grid_path, _samples(), ["a.png", "b.png"], [24.0, 25.0])
    log.image("val/samples", grid_path, 5)
    log.image("val/samples", reporting.sample_grid_path(tmp_path, 6), 6)  # no grid at step 6: nothing
    log.close()

    events = reporting.read_events(tmp_path / "tb")
    assert _scalars(events) == {("train/loss", 5): 0.25, ("train/lr", 5): np.float32(1e-3), ("train/grad_norm", 5): 3.5,
                                ("train/steps_per_s", 5): 12.0, ("val/psnr", 5): 24.5, ("val/ssim", 5): 0.75,
                                ("val/input_psnr", 5): 20.25}
    images = [(e.step, v.image) for e in events for v in e.summary.value if v.tag == "val/samples"]
    assert [step for step, _ in images] == [5]
    decoded = np.asarray(Image.open(io.BytesIO(images[0][1].encoded_image_string)).convert("RGB"))
    np.testing.assert_array_equal(decoded, np.asarray(Image.open(grid_path).convert("RGB")))

    plugin = {v.tag: HParamsPluginData.FromString(v.metadata.plugin_data.content)
              for e in events for v in e.summary.value if v.metadata.plugin_data.plugin_name == "hparams"}
    assert set(plugin) == {"_hparams_/experiment", "_hparams_/session_start_info"}
    start = plugin["_hparams_/session_start_info"].session_start_info.hparams
    assert start["recipe"].string_value == "dncnn_s25:runlocal"
    assert start["optim.lr"].number_value == 1e-3 and start["train.steps"].number_value == 40
    assert start["data.augment"].bool_value is True and start["model.kwargs.act_mode"].string_value == "BR"
    assert start["data.sizes"].string_value == "[1, 2]" and "val.limit" not in start
    experiment = plugin["_hparams_/experiment"].experiment
    assert {m.name.tag for m in experiment.metric_infos} == {"val/psnr", "val/ssim"}
    assert {h.name for h in experiment.hparam_infos} == set(hparams) - {"val.limit"}
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 2


def test_restart_tells_tensorboard_to_purge_the_redone_steps(tmp_path):
    """Like metrics.jsonl, TensorBoard drops the events after the restored step (a START session log there)."""
    from tensorboardX.proto.event_pb2 import SessionLog

    reporting.MetricsLog(tmp_path).close()
    reporting.MetricsLog(tmp_path, truncate_after=20).close()
    starts = [e.step for e in reporting.read_events(tmp_path / "tb") if e.session_log.status == SessionLog.START]
    assert sorted(starts) == [1, 21]


def test_read_events_stops_at_a_record_cut_short(tmp_path):
    log = reporting.MetricsLog(tmp_path)
    for step in (1, 2):
        log.write({"step": step, "loss": float(step)})
    log.close()
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    whole = reporting.read_events(tmp_path / "tb")
    path.write_bytes(path.read_bytes()[:-3])  # a file still being written
    cut = reporting.read_events(tmp_path / "tb")
    assert len(cut) == len(whole) - 1 and _scalars(cut) == {("train/loss", 1): 1.0}


def test_tb_tags_split_training_and_validation():
    assert [reporting.tb_tag(k) for k in ("loss", "steps_per_s", "val_psnr", "val_input_psnr")] == \
        ["train/loss", "train/steps_per_s", "val/psnr", "val/input_psnr"]


def test_sample_grid_has_the_documented_size_and_untouched_tiles():
    samples = _samples(3, h=300, w=240)
    grid = reporting.sample_grid(samples, max_side=100)
    th, tw = 100, 80  # 300 x 240 scaled to at most 100 pixels
    assert grid.shape == (reporting.GRID_HEADER_HEIGHT + 3 * th, reporting.GRID_LABEL_WIDTH + 3 * tw, 3)
    assert grid.dtype == np.uint8
    tiles = grid[reporting.GRID_HEADER_HEIGHT:, reporting.GRID_LABEL_WIDTH:]
    from PIL import Image
    for c, (x, y, target) in enumerate(samples):
        for r, image in enumerate((x, y, target)):
            pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
            expected = Image.fromarray(pixels).resize((tw, th), Image.NEAREST)
            np.testing.assert_array_equal(tiles[r * th:(r + 1) * th, c * tw:(c + 1) * tw], np.asarray(expected))


def test_sample_grid_labels_rows_and_columns():
    samples = _samples(2)
    th, tw = 48, 40
    background = np.array([32, 32, 32], np.uint8)
    plain = reporting.sample_grid(samples)
    labelled = reporting.sample_grid(samples, ["a_long_image_name.png", "b.png"], [23.456, 31.0])
    documented = (reporting.GRID_HEADER_HEIGHT + 3 * th, reporting.GRID_LABEL_WIDTH + 2 * tw, 3)
    assert plain.shape == labelled.shape == documented
    # the left band: each row's name in light text on the background, a different word per row
    bands = [plain[reporting.GRID_HEADER_HEIGHT + r * th:reporting.GRID_HEADER_HEIGHT + (r + 1) * th,
                   :reporting.GRID_LABEL_WIDTH] for r in range(3)]
    for band in bands:
        assert (band.min(axis=2) > 200).sum() > 20
    assert not np.array_equal(bands[0], bands[1]) and not np.array_equal(bands[1], bands[2])
    # the top band: blank without names and PSNRs, text over each column with them, kept inside its column
    header = slice(0, reporting.GRID_HEADER_HEIGHT)
    assert (plain[header] == background).all()
    for c in range(2):
        column = labelled[header, reporting.GRID_LABEL_WIDTH + c * tw:reporting.GRID_LABEL_WIDTH + (c + 1) * tw]
        assert (column.min(axis=2) > 200).sum() > 20
        assert (column[:, -1] == background).all()  # the long name is cut short before the next column
    np.testing.assert_array_equal(labelled[reporting.GRID_HEADER_HEIGHT:], plain[reporting.GRID_HEADER_HEIGHT:])
    # name only and PSNR only draw different lines
    name_only, psnr_only = reporting.sample_grid(samples, ["a", "b"]), reporting.sample_grid(samples, psnrs=[1.0, 2.0])
    assert not np.array_equal(name_only, psnr_only)
    with pytest.raises(ValueError, match=r"names: expected one per sample \(2\), got 1"):
        reporting.sample_grid(samples, ["a"])


def test_save_sample_grid_writes_the_grid(tmp_path):
    from PIL import Image
    samples = _samples(1)
    path = reporting.sample_grid_path(tmp_path, 7)
    reporting.save_sample_grid(path, samples, ["x"], [20.0])
    assert path.name == "step_00000007.png"
    np.testing.assert_array_equal(np.asarray(Image.open(path)), reporting.sample_grid(samples, ["x"], [20.0]))


def _metrics(workdir, baseline: bool):
    rows = [{"step": s, "loss": 1.0 / s} for s in (5, 10, 15, 20)]
    rows += [{"step": s, "val_psnr": 24.0 + s / 10, "val_ssim": 0.7, **({"val_input_psnr": 20.2} if baseline else {})}
             for s in (10, 20)]
    workdir.mkdir()
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_curves_draw_the_input_baseline_when_metrics_carry_it(tmp_path):
    from PIL import Image

    def grey_pixels(name, baseline, title="dncnn_s25:runlocal"):
        _metrics(tmp_path / name, baseline)
        path = reporting.plot_curves(tmp_path / name, title)
        assert path == tmp_path / name / "curves.png"
        return np.asarray(Image.open(path).convert("RGB"))

    without, with_baseline = grey_pixels("without", False), grey_pixels("with", True)
    assert without.shape == with_baseline.shape
    grey = np.array([128, 128, 128], np.uint8)  # matplotlib's "grey", the dashed baseline's colour
    count = lambda img: int((img == grey).all(axis=2).sum())  # noqa: E731
    assert count(with_baseline) - count(without) > 100  # the dashes (and the legend's sample of them)
    untitled = grey_pixels("untitled", True, title="")
    assert not np.array_equal(untitled, with_baseline)


def test_curves_take_the_title_from_config_json_and_need_a_loss(tmp_path):
    from PIL import Image
    assert reporting.plot_curves(tmp_path) is None  # nothing logged yet
    _metrics(tmp_path / "a", True)
    config = {"recipe": "dncnn_s25:runlocal", "model": {"name": "dncnn"}}
    (tmp_path / "a" / "config.json").write_text(json.dumps(config))
    _metrics(tmp_path / "b", True)
    read = np.asarray(Image.open(reporting.plot_curves(tmp_path / "a")))
    given = np.asarray(Image.open(reporting.plot_curves(tmp_path / "b", "dncnn_s25:runlocal")))
    np.testing.assert_array_equal(read, given)


def test_flat_config_is_config_json_flattened(tmp_path):
    from train.config import load_config
    from train.run_files import check_config
    cfg = load_config("dncnn_s25:runlocal")
    flat = reporting.flat_config(cfg)
    check_config(tmp_path, cfg)
    written = json.loads((tmp_path / "config.json").read_text())
    assert flat["recipe"] == written["recipe"] == "dncnn_s25" and flat["model.name"] == "dncnn"
    assert flat["optim.lr"] == written["optim"]["lr"] and flat["train.steps"] == 40
    assert flat["model.kwargs.nc"] == written["model"]["kwargs"]["nc"]
    assert len(flat) == sum(1 for _ in _leaves(written))
    assert all(isinstance(v, (bool, int, float, str, type(None))) for v in flat.values())


def _leaves(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _leaves(value)
    else:
        yield tree
