"""Tests of the training input pipeline (train.data): order, resumption, sharding, degradations, sources, errors."""
import json
from pathlib import Path

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
    ({"source": "tfds", "name": "restoration_folder/paired"}, FileNotFoundError,
     r"python -m train.data.tfds_folder FOLDER --paired --data_dir DIR"),
])
def test_bad_config(folder, tmp_path, change, error, match):
    cfg = _cfg(folder, **change)
    if cfg["source"] == "tfds":
        cfg.pop("path")  # a tfds source does not read it (that is an error of its own)
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


# ---- real data: 16-bit images, paired folders, the source chosen from the settings, tfds folders ----

def write_png16(path, img: np.ndarray, filters=(0, 1, 2, 3, 4)) -> None:
    """A 16-bit grey ([H, W]) or RGB ([H, W, 3]) PNG written from the PNG specification (no image library),
    row r filtered with filter type filters[r % len(filters)] (None, Sub, Up, Average, Paeth), so a reader
    is checked on every filter its decoder must undo."""
    import struct
    import zlib

    img = img if img.ndim == 3 else img[..., None]
    h, w, c = img.shape
    raw = np.frombuffer(img.astype(">u2").tobytes(), np.uint8).reshape(h, w * c * 2).astype(np.int64)
    bpp = 2 * c  # bytes per pixel: the filters' "left" distance
    rows = []
    for y in range(h):
        ftype = filters[y % len(filters)]
        cur, up = raw[y], (raw[y - 1] if y else np.zeros_like(raw[0]))
        left = np.concatenate([np.zeros(bpp, np.int64), cur[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int64), up[:-bpp]])
        p = left + up - upleft
        pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
        pred = [0, left, up, (left + up) // 2, paeth][ftype]
        rows.append(bytes([ftype]) + ((cur - pred) % 256).astype(np.uint8).tobytes())

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 3: 2}[c], 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
                           + chunk(b"IEND", b""))


def test_16bit_png_and_tiff_read_with_every_bit(tmp_path):
    import tifffile

    from train.data.images import read_training_image

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 65536, (23, 19, 3), dtype=np.uint16)
    rgb[0, 0] = (65535, 1, 256)  # both bytes of a sample matter
    grey = rgb[..., 1]
    write_png16(tmp_path / "rgb.png", rgb)
    write_png16(tmp_path / "grey.png", grey)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "grey.tif", grey)
    Image.fromarray(grey).save(tmp_path / "grey_pil.png")  # Pillow's own 16-bit grey writer (zlib, its filters)
    for name, want in [("rgb.png", rgb), ("grey.png", grey), ("rgb.tif", rgb), ("grey.tif", grey), ("grey_pil.png", grey)]:
        got = read_training_image(tmp_path / name)
        assert got.dtype == np.uint16, name
        np.testing.assert_array_equal(got, want if want.ndim == 3 else want[..., None], err_msg=name)
    eight = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    Image.fromarray(eight).save(tmp_path / "eight.png")
    got = read_training_image(tmp_path / "eight.png")
    assert got.dtype == np.uint8 and np.array_equal(got, eight)


def test_16bit_images_train_at_full_precision(tmp_path):
    levels = np.array([[1000, 1001], [40000, 65535]], np.uint16)  # 1000 and 1001 are one 8-bit level
    Image.fromarray(np.kron(levels, np.ones((6, 6), np.uint16))).save(tmp_path / "g.png")  # 12x12, 16-bit grey
    cfg = {"path": str(tmp_path), "patch_size": 12, "patches_per_image": 8}
    batch = next(make_train_iterator(cfg, {"kind": "denoise", "sigma": 0}, 8, seed=0))
    values = np.unique(np.rint(batch["target"].astype(np.float64) * 65535))
    np.testing.assert_array_equal(values, [1000, 1001, 40000, 65535])
    assert np.array_equal(batch["input"], batch["target"])  # sigma 0: input is the clean 16-bit patch
    sr = next(make_train_iterator(cfg, {"kind": "sr", "scale": 2, "lr_resize": "matlab"}, 8, seed=0))
    lr = sr["input"].astype(np.float64) * 65535
    np.testing.assert_allclose(lr, np.rint(lr), atol=2e-3)  # rounded to 16-bit levels, not 8-bit ones
    assert len(np.unique(np.rint(lr))) > 4
    with pytest.raises(ValueError, match="task.lr_resize: 'pil' resizes 8-bit images"):
        next(make_train_iterator(cfg, {"kind": "sr", "scale": 2, "lr_resize": "pil"}, 8, seed=0))
    # RGB -> Y at 16 bits: MATLAB's rgb2ycbcr formula, rounded to 16-bit levels
    rgb = np.zeros((12, 12, 3), np.uint16)
    rgb[...] = (50000, 20000, 3000)
    tif = tmp_path / "rgb"
    tif.mkdir()
    import tifffile

    tifffile.imwrite(tif / "c.tif", rgb, photometric="rgb")
    y = next(make_train_iterator({**cfg, "path": str(tif)}, {"kind": "denoise", "sigma": 0}, 8, seed=0))["target"]
    r, g, b = 50000 / 65535, 20000 / 65535, 3000 / 65535
    want = np.floor((16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255 * 65535 + 0.5)
    np.testing.assert_array_equal(np.rint(y.astype(np.float64) * 65535), np.full(y.shape, want))


def _find(patch, image, step=1):
    """(row, col, dihedral k) of the patch inside image [H, W, C] on a grid of `step`; the one match."""
    size = patch.shape[0]
    hits = [(y, x, k) for k in range(8) for y in range(0, image.shape[0] - size + 1, step)
            for x in range(0, image.shape[1] - size + 1, step)
            if np.array_equal(dihedral(image[y:y + size, x:x + size], k), patch)]
    assert len(hits) == 1, hits
    return hits[0]


@pytest.fixture
def pairs(tmp_path):
    """GT 16x20 RGB PNGs in gt/, their LQ images (8x10, x2) as TIFF in lq/ named '<stem>x2' (DIV2K's habit)."""
    rng = np.random.default_rng(3)
    (tmp_path / "gt").mkdir()
    (tmp_path / "lq").mkdir()
    images = {}
    for i in range(3):
        gt = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
        lq = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)  # unrelated content: the pairing alone links them
        Image.fromarray(gt).save(tmp_path / "gt" / f"{i:04d}.png")
        Image.fromarray(lq).save(tmp_path / "lq" / f"{i:04d}x2.tif")
        images[i] = (lq, gt)
    return tmp_path, images


def test_paired_folders_crop_the_same_place_of_both(pairs):
    root, images = pairs
    cfg = {"path": str(root / "gt"), "lq_path": str(root / "lq"), "filename_tmpl": "{}x2", "patch_size": 8,
           "patches_per_image": 8}
    task = {"kind": "sr", "scale": 2, "channels": "rgb"}
    it = make_train_iterator(cfg, task, 8, seed=0)
    assert it.source_info == {"source": "paired", "path": str((root / "gt").resolve()), "images": 3,
                              "lq_path": str((root / "lq").resolve())}
    batch = next(it)
    assert batch["input"].shape == (8, 4, 4, 3) and batch["target"].shape == (8, 8, 8, 3)
    seen = set()
    for x, t in zip(batch["input"], batch["target"]):
        x8, t8 = np.rint(x * 255).astype(np.uint8), np.rint(t * 255).astype(np.uint8)
        owner = [i for i, (lq, _) in images.items() if any(
            np.array_equal(dihedral(lq[a:a + 4, b:b + 4], k), x8) for k in range(8) for a in range(5) for b in range(7))]
        assert len(owner) == 1
        lq, gt = images[owner[0]]
        y0, x0, k = _find(x8, lq)
        np.testing.assert_array_equal(t8, dihedral(gt[2 * y0:2 * y0 + 8, 2 * x0:2 * x0 + 8], k))  # GT at 2x
        seen.add(k)
    assert len(seen) > 1  # augmented, the same variant for both halves
    state = it.get_state()
    ref = _take(it, 2)
    fresh = make_train_iterator(cfg, task, 8, seed=0)
    fresh.set_state(state)
    assert _same(_take(fresh, 2), ref)  # resumable like the other sources

    denoise = make_train_iterator({**cfg, "path": str(root / "lq"), "lq_path": str(root / "lq"), "filename_tmpl": "{}",
                                   "patch_size": 6}, {"kind": "denoise", "sigma": 25, "channels": "rgb"}, 4, seed=0)
    b = next(denoise)
    assert np.array_equal(b["input"], b["target"])  # the pair's own degradation (none here), no added noise


@pytest.mark.parametrize("change, match", [
    ({"filename_tmpl": "{}"}, r"3 GT image\(s\) without an LQ image, e.g. 0000.png \(no 0000.\*\)"),
    ({"filename_tmpl": "x"}, "filename_tmpl: expected a template with one"),
    ({"lq_path": "gt"}, "lq_path: 0000.png: GT 16x20 is not 2x the LQ size"),
])
def test_paired_errors(pairs, change, match):
    root, _ = pairs
    cfg = {"path": str(root / "gt"), "lq_path": str(root / "lq"), "filename_tmpl": "{}x2", "patch_size": 8, **change}
    if change.get("lq_path") == "gt":
        cfg.update(lq_path=str(root / "gt"), filename_tmpl="{}")
    with pytest.raises(ValueError, match=match):
        next(make_train_iterator(cfg, {"kind": "sr", "scale": 2, "channels": "rgb"}, 4, seed=0))


def test_paired_lq_without_gt_and_cs_are_errors(pairs):
    root, _ = pairs
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(root / "lq" / "extrax2.png")
    cfg = {"path": str(root / "gt"), "lq_path": str(root / "lq"), "filename_tmpl": "{}x2", "patch_size": 8}
    with pytest.raises(ValueError, match=r"1 LQ image\(s\) without a GT image, e.g. extrax2.png"):
        make_train_iterator(cfg, {"kind": "sr", "scale": 2}, 4)
    with pytest.raises(ValueError, match="a cs task trains on clean blocks"):
        make_train_iterator({**cfg, "patch_size": None}, {"kind": "cs", "block": 8}, 4)
    with pytest.raises(ValueError, match="lq_path: the paired source needs `lq_path`"):
        make_train_iterator({"source": "paired", "path": str(root / "gt"), "patch_size": 8}, {"kind": "sr", "scale": 2}, 4)


@pytest.mark.parametrize("cfg, match", [
    ({"source": "skimage", "path": "DIR"}, r"data.path: set to .*, but the 'skimage' source does not read it"),
    ({"source": "folder", "path": "DIR", "names": ["camera"]}, "data.names: set to"),
    ({"source": "folder", "path": "DIR", "split": "test"}, "data.split: set to 'test'"),
    ({"source": "tfds", "name": "cifar10", "lq_path": "DIR"}, "data.lq_path: set to"),
    ({"source": "skimage", "lq_key": "lr"}, "data.lq_key: set to 'lr'"),
    ({"path": "DIR", "filename_tmpl": "{}x2"}, "data.filename_tmpl: '{}x2' names LQ files, but no data.lq_path"),
])
def test_a_setting_the_source_does_not_read_is_an_error(folder, cfg, match):
    cfg = {k: str(folder) if v == "DIR" else v for k, v in cfg.items()}
    with pytest.raises(ValueError, match=match):
        make_train_iterator({**cfg, "patch_size": 12}, DENOISE, 8)


def test_the_source_follows_the_settings(folder):
    it = make_train_iterator({"source": "", "path": str(folder), "patch_size": 12}, DENOISE, 8)
    assert it.source_info == {"source": "folder", "path": str(folder.resolve()), "images": 8}
    assert it.get_state()["source"] == it.source_info  # what a checkpoint records
    assert make_train_iterator({"patch_size": 12}, DENOISE, 8).source_info["source"] == "skimage"


def test_data_path_alone_selects_the_folder_in_every_runlocal_recipe(folder):
    """Every recipe but the paired and tfds ones (whose data.path means something else or nothing) trains
    on data.path when that is the only override; an explicit contrary source is an error at load time."""
    from train.config import load_config
    from train.configs import RECIPES
    from train.data.sources import resolve_source

    for recipe in sorted(set(RECIPES) - {"dncnn_real", "dncnn_s25_tfds"}):
        cfg = load_config(f"{recipe}:runlocal", [f"data.path={folder}"])
        assert resolve_source(cfg.data) == "folder", recipe
        assert load_config(f"{recipe}:runlocal").data.path != str(folder)
    with pytest.raises(ValueError, match="data.path: set to"):
        load_config("dncnn_s25_tfds:runlocal", [f"data.path={folder}"])
    cfg = load_config("srresnet_x4:runlocal", [f"data.path={folder}", "data.patch_size=16"])  # 24x24 images
    it = make_train_iterator(cfg.data, cfg.task, 4)
    assert it.source_info["path"] == str(folder.resolve())


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test at once (tfds must never try to download)."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_tfds_folder_builder_prepares_array_record_and_trains(tmp_path, no_network):
    """An image folder (8-bit RGB and grey, 16-bit grey) -> restoration_folder in array_record, offline ->
    the tfds source gives back exactly the images; the paired config gives back exactly the pairs."""
    pytest.importorskip("tensorflow_datasets")
    from train.data.sources import open_source
    from train.data.tfds_folder import prepare_folder

    rng = np.random.default_rng(5)
    src = tmp_path / "imgs"
    src.mkdir()
    images = {"a.png": rng.integers(0, 256, (14, 15, 3), dtype=np.uint8),
              "b.png": rng.integers(0, 256, (16, 13), dtype=np.uint8),
              "c.png": rng.integers(0, 65536, (13, 17), dtype=np.uint16)}
    for name, img in images.items():
        Image.fromarray(img).save(src / name)
    data_dir = tmp_path / "tfds"
    prepared = prepare_folder(src, data_dir)
    assert list(prepared.glob("restoration_folder-train.array_record-*"))
    cfg = {"source": "tfds", "name": "restoration_folder", "data_dir": str(data_dir), "patch_size": 12}
    source = open_source(cfg, "rgb")
    got = sorted((source.ds[i]["name"].decode(), i) for i in range(len(source)))  # tfds shuffles the records
    assert [n for n, _ in got] == ["a.png", "b.png", "c.png"]
    for name, i in got:
        img, want = source[i], images[name]
        want = want if want.ndim == 3 else np.repeat(want[..., None], 3, axis=-1)
        assert img.dtype == want.dtype, name
        np.testing.assert_array_equal(img, want)
    it = make_train_iterator(cfg, DENOISE, 4, seed=0)
    assert next(it)["target"].shape == (4, 12, 12, 1)
    assert it.source_info == {"source": "tfds", "name": "restoration_folder", "split": "train",
                              "data_dir": str(data_dir), "images": 3}
    state, ref = it.get_state(), _take(it, 2)
    fresh = make_train_iterator(cfg, DENOISE, 4, seed=0)
    fresh.set_state(state)
    assert _same(_take(fresh, 2), ref)

    paired_src = tmp_path / "pairs"
    (paired_src / "gt").mkdir(parents=True)
    (paired_src / "lq").mkdir()
    gt = rng.integers(0, 65536, (12, 12), dtype=np.uint16)
    lq = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    Image.fromarray(gt).save(paired_src / "gt" / "p.png")
    Image.fromarray(lq).save(paired_src / "lq" / "p.png")
    prepare_folder(paired_src, data_dir, paired=True)
    pcfg = {"source": "tfds", "name": "restoration_folder/paired", "data_dir": str(data_dir), "lq_key": "lq",
            "patch_size": 12, "augment": False}
    pair = next(make_train_iterator(pcfg, {"kind": "sr", "scale": 2}, 1, seed=0))
    np.testing.assert_array_equal(np.rint(pair["target"][0, ..., 0].astype(np.float64) * 65535), gt)
    np.testing.assert_array_equal(np.rint(pair["input"][0, ..., 0] * 255), lq)


def test_paired_validation_set(pairs, tmp_path):
    """SR pairs: the input is the LQ file, the target the GT file cropped to 2x the LQ (here 17x21 -> 16x20)."""
    root, images = pairs
    odd = tmp_path / "odd"
    odd.mkdir()
    for i, (_, gt) in images.items():  # one extra row and column: cropped away, as BasicSR's mod_crop
        Image.fromarray(np.pad(gt, ((0, 1), (0, 1), (0, 0)))).save(odd / f"{i:04d}.png")
    val = make_val_set({"source": "folder", "path": str(odd), "lq_path": str(root / "lq"), "filename_tmpl": "{}x2",
                        "limit": 2}, {"kind": "sr", "scale": 2, "channels": "rgb"})
    assert [v[0] for v in val] == ["0000.png", "0001.png"]
    for (_, x, y), i in zip(val, range(2)):
        lq, gt = images[i]
        np.testing.assert_array_equal(np.rint(x * 255), lq)
        np.testing.assert_array_equal(np.rint(y * 255), gt)
    with pytest.raises(ValueError, match="val_cfg.sigma: 25 cannot take effect"):
        make_val_set({"path": str(odd), "lq_path": str(root / "lq"), "filename_tmpl": "{}x2", "sigma": 25},
                     {"kind": "sr", "scale": 2})
    from train.config import load_config

    with pytest.raises(ValueError, match=r"val.lq_path: set to .*, but validation is off"):
        load_config("dncnn_s25:runlocal", ["val.source=''", f"val.lq_path={root}"])


def test_tfds_folder_splits_are_its_subfolders(tmp_path, no_network):
    pytest.importorskip("tensorflow_datasets")
    from train.data.sources import open_source
    from train.data.tfds_folder import prepare_folder

    for split, n in (("train", 2), ("validation", 1)):
        (tmp_path / "imgs" / split).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8), 10 * i + n, np.uint8)).save(tmp_path / "imgs" / split / f"{i}.png")
    prepare_folder(tmp_path / "imgs", tmp_path / "tfds")
    cfg = {"source": "tfds", "name": "restoration_folder", "data_dir": str(tmp_path / "tfds")}
    assert len(open_source(cfg)) == 2
    only = open_source({**cfg, "split": "validation"})
    assert len(only) == 1 and only[0].dtype == np.uint8 and np.all(only[0] == 1)


def test_catalog_div2k_pairs_through_the_tfds_source(no_network):
    """A prepared catalog dataset (div2k/bicubic_x2, mocked: its records as tfds.data_source gives them) trains
    as a paired source with lq_key="lr": the input is the dataset's own LR crop, the target the HR crop at 2x."""
    tfds = pytest.importorskip("tensorflow_datasets")
    rng = np.random.default_rng(11)
    records = [{"hr": rng.integers(0, 256, (12, 16, 3), dtype=np.uint8),
                "lr": rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)} for _ in range(2)]
    with tfds.testing.mock_data(as_data_source_fn=lambda *args, **kwargs: records):
        cfg = {"source": "tfds", "name": "div2k/bicubic_x2", "lq_key": "lr", "patch_size": 4}
        it = make_train_iterator(cfg, {"kind": "sr", "scale": 2, "channels": "rgb"}, 8, seed=0)
        batch = next(it)
    assert it.source_info["lq_key"] == "lr" and it.source_info["images"] == 2
    for x, t in zip(batch["input"], batch["target"]):
        x8, t8 = np.rint(x * 255).astype(np.uint8), np.rint(t * 255).astype(np.uint8)
        owner = [r for r in records if any(np.array_equal(dihedral(r["lr"][a:a + 2, b:b + 2], k), x8)
                                           for k in range(8) for a in range(5) for b in range(7))]
        assert len(owner) == 1
        y0, x0, k = _find(x8, owner[0]["lr"])
        np.testing.assert_array_equal(t8, dihedral(owner[0]["hr"][2 * y0:2 * y0 + 4, 2 * x0:2 * x0 + 4], k))
