"""Tasks, tiling and `jrestore restore`: tiled == untiled, both frameworks agree, colour handling, safe writes,
and one clear error per bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import torch_ref.models as tmodels
from jrestore.cli import main
from jrestore.inference import build_task
from jrestore.inference.tiling import tiled_apply, window_starts
from jrestore.parity.tolerances import MODEL, OP, TILING


def perturbed_state(name: str, seed: int = 0, **kwargs) -> dict:
    """A torch_ref state dict moved away from its init (so a wrong layout cannot pass by symmetry)."""
    torch.manual_seed(seed)
    sd = tmodels.get(name, **kwargs).state_dict()
    gen = torch.Generator().manual_seed(seed)
    return {k: (v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v) for k, v in sd.items()}


@pytest.mark.parametrize("length,window,halo,align", [(100, 40, 5, 1), (101, 37, 6, 1), (96, 40, 4, 2),
                                                      (64, 64, 3, 1), (33, 50, 2, 1), (128, 36, 8, 4)])
def test_window_starts_cover_every_pixel_with_its_halo(length, window, halo, align):
    window = min(window - window % align, length)
    starts = window_starts(length, window, halo, align)
    assert all(s % align == 0 and 0 <= s <= length - window for s in starts)
    for p in range(length):  # some window holds p with halo pixels of context or the image edge on both sides
        assert any((s + halo <= p or s == 0) and (p < s + window - halo or s + window == length) for s in starts), p


def test_tiled_apply_is_exact_for_a_local_filter():
    rng = np.random.default_rng(0)
    x = rng.random((70, 53, 2), dtype=np.float32)

    def box(v):  # 5x5 mean with zero padding: radius 2, like a conv with padding
        p = np.pad(v, ((2, 2), (2, 2), (0, 0)))
        return sum(p[i:i + v.shape[0], j:j + v.shape[1]] for i in range(5) for j in range(5)) / 25.0
    np.testing.assert_array_equal(tiled_apply(box, x, tile=16, halo=2), box(x))
    with pytest.raises(AssertionError):  # a halo below the radius is visibly wrong: the test can fail
        np.testing.assert_array_equal(tiled_apply(box, x, tile=16, halo=1), box(x))


TILED = [  # (model, kwargs, task arguments, input channels)
    ("dncnn", dict(nc=8, nb=5, act_mode="BR"), {}, 1),
    ("ffdnet", dict(nc=8, nb=4), dict(sigma=25), 1),
    ("multiscale_enhancer", dict(num_feat=4), {}, 1),
    ("srcnn", dict(variant="915"), dict(scale=2), 1),
    ("fsrcnn", dict(d=8, s=4, m=2), dict(scale=3), 1),
    ("espcn", dict(scale_factor=2, num_channels=3), dict(scale=2), 3),
    ("srresnet", dict(num_feat=8, num_block=2, scale=2), dict(scale=2), 3),
    ("msrresnet", dict(num_feat=8, num_block=2, upscale=3), dict(scale=3), 3),
]


@pytest.mark.parametrize("name,kwargs,extra,channels", TILED, ids=[t[0] for t in TILED])
def test_tiled_restore_equals_untiled_in_both_frameworks(name, kwargs, extra, channels):
    task = build_task(name, perturbed_state(name, **kwargs), model_kwargs=kwargs, **extra)
    x = np.random.default_rng(1).random((45, 38, channels), dtype=np.float32)
    whole = task.restore(x, "jax")
    assert whole.shape == (45 * task.scale, 38 * task.scale, channels)
    tiled = task.restore(x, "jax", tile=12)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=TILING * max(1.0, np.abs(whole).max()))
    torch_out = task.restore(x, "torch", tile=12)
    np.testing.assert_allclose(torch_out, whole, rtol=0, atol=MODEL * max(1.0, np.abs(whole).max()))


def test_cs_task_reconstructs_in_block_chunks(monkeypatch):
    import jrestore.inference.tasks as tasks

    phi = np.random.default_rng(0).standard_normal((272, 1089)) / 33.0
    # |soft_thr|: a negative threshold makes soft thresholding jump at 0, where float32 noise flips pixels
    sd = {k: (v.abs() if k.endswith("soft_thr") else v) for k, v in perturbed_state("ista_net_plus", num_phases=2).items()}
    task = build_task("ista_net_plus", sd, model_kwargs=dict(num_phases=2, phi=phi, qinit=phi.T.copy()), cs_ratio=25)
    x = np.random.default_rng(2).random((70, 40, 1), dtype=np.float32)
    whole = task.restore(x, "jax")
    monkeypatch.setattr(tasks, "CS_CHUNK", 2)  # 3 x 2 blocks = 6 rows in chunks of 2
    task2 = build_task("ista_net_plus", sd, model_kwargs=dict(num_phases=2, phi=phi, qinit=phi.T.copy()), cs_ratio=25)
    np.testing.assert_allclose(task2.restore(x, "jax"), whole, atol=OP)
    np.testing.assert_allclose(task2.restore(x, "torch"), whole, atol=MODEL)


def test_build_task_errors():
    with pytest.raises(ValueError, match="is a learned model; pass its weights file"):
        build_task("dncnn")
    with pytest.raises(ValueError, match="is not an image-restoration model"):
        build_task("vgg19")
    with pytest.raises(ValueError, match="needs the sampling ratio"):
        build_task("ista")
    with pytest.raises(ValueError, match="trained with one sampling matrix"):
        build_task("ista_net", perturbed_state("ista_net", num_phases=1), model_kwargs=dict(num_phases=1), cs_ratio=25)
    with pytest.raises(ValueError, match=r"was trained for x2 \(its weights say so\), got --scale 4"):
        build_task("espcn", perturbed_state("espcn", scale_factor=2), scale=4)
    with pytest.raises(ValueError, match="needs the SR factor"):
        build_task("bicubic")


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


@pytest.fixture(scope="module")
def dncnn_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "dncnn_small.pth"
    torch.save(perturbed_state("dncnn", nc=8, nb=4, act_mode="R"), path)
    return path


def test_restore_cli_grey_colour_folder_and_safety(tmp_path, dncnn_weights, capsys):
    rng = np.random.default_rng(3)
    grey = _save(tmp_path / "grey.png", rng.integers(0, 256, (37, 41), dtype=np.uint8))
    colour = _save(tmp_path / "colour.png", rng.integers(0, 256, (30, 33, 3), dtype=np.uint8))
    common = ["restore", "--model", "dncnn", "--weights", str(dncnn_weights), "--tile", "16"]
    assert main(common + [str(grey), str(tmp_path / "out_grey.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out_grey.png"))
    assert out.shape == (37, 41) and out.dtype == np.uint8
    # the same image untiled through the task gives the same bytes
    task = build_task("dncnn", dncnn_weights, frameworks=("jax",))
    ref = task.restore(np.asarray(Image.open(grey), np.float32)[..., None] / 255.0, "jax")
    np.testing.assert_array_equal(out, np.round(np.clip(ref[..., 0], 0, 1) * 255).astype(np.uint8))
    # a grey model on a colour image restores Y and keeps the chroma: the output is colour, near the input
    assert main(common + [str(colour), str(tmp_path / "out_colour.png")]) == 0
    assert np.asarray(Image.open(tmp_path / "out_colour.png")).shape == (30, 33, 3)
    # the input is never overwritten unless asked, nor an existing output
    assert main(common + [str(grey), str(grey)]) == 2
    assert "is the input; pass --overwrite" in capsys.readouterr().err
    assert main(common + [str(grey), str(tmp_path / "out_grey.png")]) == 2
    # a folder: every image, bad ones reported, exit 1, no temporary files left
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    outdir = tmp_path / "outdir"
    assert main(common + [str(tmp_path), str(outdir)]) == 1
    err = capsys.readouterr().err
    assert "broken.png: not a readable image" in err and "restored 4 of 5 images" in err and "1 failed" in err
    assert sorted(p.name for p in outdir.iterdir()) == ["colour.png", "grey.png", "out_colour.png", "out_grey.png"]


BAD_IMAGES = [
    ("float.tif", lambda p: Image.fromarray(np.zeros((20, 20), np.float32) + 0.3).save(p), "is not read"),
    ("alpha.png", lambda p: Image.fromarray(np.zeros((20, 20, 4), np.uint8)).save(p), "alpha channel"),
    ("text.png", lambda p: p.write_text("hello"), "not a readable image"),
    ("tiny.png", lambda p: Image.fromarray(np.zeros((5, 20), np.uint8)).save(p), "smaller than dncnn's minimum"),
]


@pytest.mark.parametrize("name,make,message", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_restore_cli_bad_input_one_clear_error(tmp_path, dncnn_weights, capsys, name, make, message):
    make(tmp_path / name)
    out = tmp_path / "out.png"
    assert main(["restore", "--model", "dncnn", "--weights", str(dncnn_weights), str(tmp_path / name), str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [name]


def test_restore_cli_wrong_scale_for_weights(tmp_path, capsys):
    weights = tmp_path / "espcn_x2.pth"
    torch.save(perturbed_state("espcn", scale_factor=2), weights)
    img = _save(tmp_path / "lr.png", np.zeros((16, 16), np.uint8))
    assert main(["restore", "--model", "espcn", "--weights", str(weights), "--scale", "3", str(img),
                 str(tmp_path / "sr.png")]) == 2
    assert "was trained for x2" in capsys.readouterr().err
    assert not (tmp_path / "sr.png").exists()


def test_restore_cli_4000x3000_photo_in_tiles(tmp_path, dncnn_weights):
    """The size of a phone photo, through a small DnCNN in 512-pixel tiles (bounded memory)."""
    y, x = np.mgrid[0:3000, 0:4000]
    photo = ((np.sin(x / 97.0) + np.cos(y / 61.0)) * 60 + 128).astype(np.uint8)
    src = _save(tmp_path / "photo.png", photo)
    assert main(["restore", "--model", "dncnn", "--weights", str(dncnn_weights), str(src),
                 str(tmp_path / "restored.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "restored.png"))
    assert out.shape == (3000, 4000)
    task = build_task("dncnn", dncnn_weights, frameworks=("jax",))  # a crop away from the borders, untiled
    crop = photo[1000:1100, 2000:2100].astype(np.float32)[..., None] / 255.0
    ref = np.round(np.clip(task.restore(crop, "jax")[..., 0], 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(out[1010:1090, 2010:2090], ref[10:90, 10:90])
