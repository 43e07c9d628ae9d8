"""Tests of the training input pipeline (train.data): order, resumption, sharding, degradations, sources, errors."""
import json

import numpy as np
import pytest
from PIL import Image

from train.data import make_train_iterator, make_val_set
from train.data.examples import dihedral
from jrestore.parity.tolerances import FLOAT32_LEVELS, NOISE_MEAN, NOISE_STD_REL, RESIZE_REPEAT

DENOISE = {"kind": "denoise", "sigma": 25}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """6 random RGB 24x24 PNGs and 2 grey ones (grey stays grey under channels 'y')."""
    path = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path / f"c{i}.png")
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(path / f"g{i}.png")
    return path


def _cfg(folder, **kw):
    return {"source": "folder", "path": str(folder), "patch_size": 12, "patches_per_image": 4, **kw}


def _take(it, n):
    return [next(it) for _ in range(n)]


def _same(a, b):
    return all(np.array_equal(x[k], y[k]) for x, y in zip(a, b, strict=True) for k in ("input", "target"))


def test_deterministic_for_a_seed_and_seeds_differ(folder):
    a = _take(make_train_iterator(_cfg(folder), DENOISE, 8, seed=3), 3)
    from ml_collections import ConfigDict

    # the trainer's ConfigDicts: every kind's task fields, "" for unset data fields
    task = ConfigDict({**DENOISE, "scale": 1, "block": 33, "channels": "y", "lr_resize": "matlab"})
    b = _take(make_train_iterator(ConfigDict(_cfg(folder, name="", data_dir="")), task, 8, seed=3), 3)
    c = _take(make_train_iterator(_cfg(folder), DENOISE, 8, seed=4), 3)
    assert _same(a, b)
    assert a[0]["input"].shape == (8, 12, 12, 1) and a[0]["input"].dtype == np.float32
    assert not np.array_equal(a[0]["target"], c[0]["target"])


def test_state_resumes_identically(folder):
    it = make_train_iterator(_cfg(folder), DENOISE, 8, seed=1)
    _take(it, 2)
    state = json.loads(json.dumps(it.get_state()))  # what a checkpoint stores
    ref = _take(it, 3)  # crosses the 32-patch epoch boundary (batches 2..4 of 8)
    fresh = make_train_iterator(_cfg(folder), DENOISE, 8, seed=1)
    fresh.set_state(state)
    assert _same(_take(fresh, 3), ref)
    it.set_state(json.dumps(state).encode())  # the same object, rewound; bytes are accepted too
    assert _same(_take(it, 3), ref)
    other = make_train_iterator(_cfg(folder), DENOISE, 8, seed=2)
    with pytest.raises(ValueError, match="different pipeline"):
        other.set_state(state)


def test_two_processes_concatenate_to_the_global_batch(folder):
    one = _take(make_train_iterator(_cfg(folder), DENOISE, 8, seed=0), 5)
    p0 = _take(make_train_iterator(_cfg(folder), DENOISE, 8, seed=0, process_index=0, process_count=2), 5)
    p1 = _take(make_train_iterator(_cfg(folder), DENOISE, 8, seed=0, process_index=1, process_count=2), 5)
    for g, a, b in zip(one, p0, p1):
        assert a["input"].shape[0] == 4
        for k in ("input", "target"):  # rows [0, 4) from process 0, rows [4, 8) from process 1
            np.testing.assert_array_equal(np.concatenate([a[k], b[k]]), g[k])


def test_epochs_visit_every_patch_once_and_reshuffle(tmp_path):
    for i in range(8):  # image i is the constant 10 * i: a patch tells which image it came from
        Image.fromarray(np.full((12, 12), 10 * i, np.uint8)).save(tmp_path / f"{i}.png")
    it = make_train_iterator(_cfg(tmp_path, patches_per_image=2, num_epochs=2), DENOISE, 4, seed=0)
    assert it.num_batches == 8
    batches = list(it)
    assert len(batches) == 8
    ids = [np.rint(b["target"][:, 0, 0, 0] * 25.5).astype(int) for b in batches]
    epoch0, epoch1 = np.concatenate(ids[:4]), np.concatenate(ids[4:])
    assert sorted(epoch0) == sorted(epoch1) == sorted(list(range(8)) * 2)
    assert not np.array_equal(epoch0, epoch1)


def test_augmentation_gives_all_8_dihedral_variants_and_aligned_sr_pairs(tmp_path):
    from jrestore.ops.resize import imresize_matlab

    img = np.random.default_rng(1).integers(0, 256, (12, 12, 1), dtype=np.uint8)  # no symmetry
    Image.fromarray(img[..., 0]).save(tmp_path / "a.png")
    cfg = {"source": "folder", "path": str(tmp_path), "patch_size": 12, "patches_per_image": 64}
    task = {"kind": "sr", "scale": 3, "lr_resize": "matlab", "lr_uint8": False}
    batch = next(make_train_iterator(cfg, task, 64, seed=0))
    variants = [dihedral(img, k) / 255.0 for k in range(8)]
    seen = {next(k for k, v in enumerate(variants) if np.allclose(t, v)) for t in batch["target"]}
    assert seen == set(range(8))
    assert batch["input"].shape == (64, 4, 4, 1)
    lr = np.asarray(imresize_matlab(batch["target"], scale=1 / 3))
    np.testing.assert_allclose(batch["input"], lr, atol=RESIZE_REPEAT)  # input is the downscaled target, same variant
    pil = next(make_train_iterator(cfg, {**task, "lr_resize": "pil"}, 8, seed=0))
    for t, x in zip(pil["target"], pil["input"]):
        ref = Image.fromarray(np.rint(t[..., 0] * 255).astype(np.uint8)).resize((4, 4), Image.BICUBIC)
        np.testing.assert_array_equal(np.rint(x[..., 0] * 255), np.asarray(ref))
    quant = next(make_train_iterator(cfg, {**task, "lr_uint8": True}, 8, seed=0))["input"] * 255
    np.testing.assert_allclose(quant, np.rint(quant), atol=FLOAT32_LEVELS)  # uint8 levels, as an LR PNG


def test_noise_statistics_and_not_clipped():
    cfg = {"source": "skimage", "names": ["camera", "astronaut"], "patch_size": 40, "patches_per_image": 64}
    batch = next(make_train_iterator(cfg, DENOISE, 128, seed=0))
    noise = batch["input"] - batch["target"]
    assert abs(noise.std() - 25 / 255) < NOISE_STD_REL * 25 / 255 and abs(noise.mean()) < NOISE_MEAN
    assert batch["input"].min() < 0 or batch["input"].max() > 1  # not clipped (DnCNN protocol)
    assert 0 <= batch["target"].min() and batch["target"].max() <= 1
    blind = next(make_train_iterator(cfg, {"kind": "denoise", "sigma": [0, 55]}, 128, seed=0))
    stds = (blind["input"] - blind["target"]).std(axis=(1, 2, 3)) * 255
    assert stds.min() < 10 and stds.max() > 45 and stds.max() < 58


def test_skimage_source_channels():
    cfg = {"source": "skimage", "patch_size": 48}
    rgb = next(make_train_iterator(cfg, {"kind": "sr", "scale": 4, "channels": "rgb"}, 4, seed=0))
    assert rgb["target"].shape == (4, 48, 48, 3) and rgb["input"].shape == (4, 12, 12, 3)
    y = next(make_train_iterator({"source": "skimage"}, {"kind": "cs", "block": 33}, 4, seed=0))
    assert y["target"].shape == (4, 33, 33, 1) and np.array_equal(y["input"], y["target"])


@pytest.mark.data
def test_train400_folder_source(shared_data):
    if not (shared_data / "denoise" / "Train400").is_dir():
        pytest.skip("Train400 absent from the reference data")
    cfg = {"source": "folder", "path": "train400", "patch_size": 40, "patches_per_image": 8}
    it = make_train_iterator(cfg, DENOISE, 16, seed=0)
    b = next(it)
    assert b["input"].shape == b["target"].shape == (16, 40, 40, 1)
    assert it.num_batches is None  # infinite by default


def test_tfds_source_with_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=10):
        cfg = {"source": "tfds", "name": "cifar10", "split": "train", "patch_size": 16, "data_dir": str(tmp_path)}
        b = next(make_train_iterator(cfg, {**DENOISE, "channels": "rgb"}, 4, seed=0))
        div2k = {"source": "tfds", "name": "div2k/bicubic_x2", "patch_size": 4, "data_dir": str(tmp_path)}
        sr = next(make_train_iterator(div2k, {"kind": "sr", "scale": 2}, 4, seed=0))  # reads "hr" (5-49 px)
    assert b["input"].shape == (4, 16, 16, 3)
    assert sr["target"].shape == (4, 4, 4, 1) and sr["input"].shape == (4, 2, 2, 1)


def test_worker_processes_give_the_same_batches(folder):
    """grain worker processes (spawned) change neither order nor content."""
    ref = _take(make_train_iterator(_cfg(folder), DENOISE, 8, seed=5), 3)
    with make_train_iterator(_cfg(folder, worker_count=2), DENOISE, 8, seed=5) as it:
        assert _same(_take(it, 3), ref)


@pytest.mark.parametrize("change, error, match", [
    ({"source": "web"}, ValueError, "source: expected one of"),
    ({"patch_size": 64}, ValueError, "smaller than the 64x64 crop"),
    ({"path": "/nonexistent/folder"}, FileNotFoundError, "no such folder"),
    ({"shuffle_buffer": 10}, ValueError, "unknown keys"),
    ({"source": "tfds", "name": "cifar10"}, FileNotFoundError, "not prepared"),
])
def test_bad_config(folder, tmp_path, change, error, match):
    cfg = _cfg(folder, **change)
    if cfg["source"] == "tfds":
        cfg["data_dir"] = str(tmp_path)  # empty: never prepared, and nothing is downloaded
    with pytest.raises(error, match=match):
        make_train_iterator(cfg, DENOISE, 8)


@pytest.mark.parametrize("task, batch, match", [
    ({"kind": "deblur"}, 8, "task.kind: expected one of"),
    ({"kind": "sr", "scale": 5}, 8, "multiple of task.scale"),
    ({"kind": "denoise", "sigma": [30, 10]}, 8, "task.sigma"),
    (DENOISE, 7, "divisible by process_count"),
])
def test_bad_task_or_batch(folder, task, batch, match):
    with pytest.raises(ValueError, match=match):
        make_train_iterator(_cfg(folder), task, batch, process_count=2)


@pytest.mark.data
def test_val_set12_matches_protocol(shared_data):
    from jrestore.evaluation.protocol_data import load_samples

    set12 = shared_data / "denoise" / "Set12"
    if not set12.is_dir():
        pytest.skip("Set12 absent from the reference data")
    val = make_val_set({"source": "folder", "path": "set12", "protocol": "", "limit": 0}, DENOISE)
    ref = load_samples(set12, "kair_dncnn", kind="denoise", channels=1, sigma=25)
    assert [v[0] for v in val] == [s.name for s in ref] and len(val) == 12
    for (_, x, y), s in zip(val, ref):
        assert x.dtype == np.float32 and np.array_equal(x, s.inputs) and np.array_equal(y, s.target)
    with pytest.raises(ValueError, match="give val_cfg.sigma"):
        make_val_set({"path": "set12"}, {"kind": "denoise", "sigma": [0, 55]})
