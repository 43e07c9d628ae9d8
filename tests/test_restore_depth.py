"""`jrestore restore` on 16-bit images (full precision in, 16-bit out) and on colour images with a one-channel
model (luminance said once, or --per-channel). References are the torch_ref twin run directly on the same
float input, so the CLI's reading, scaling, tiling, rounding and writing are all checked against it."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import torch_ref.models as tmodels
from jrestore.cli import main
from jrestore.data.image_io import read_image
from jrestore.parity import tolerances

DNCNN = dict(nc=8, nb=3, act_mode="R")
H, W = 20, 27


@pytest.fixture(scope="module")
def dncnn(tmp_path_factory):
    """(weights file, torch_ref model holding them) for a small DnCNN with perturbed weights."""
    torch.manual_seed(0)
    model = tmodels.get("dncnn", **DNCNN)
    gen = torch.Generator().manual_seed(1)
    state = {k: v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    path = tmp_path_factory.mktemp("w") / "dncnn.pth"
    torch.save(state, path)
    return path, model.eval()


def _torch_restore(model, x: np.ndarray) -> np.ndarray:
    """[H, W, C] float in [0, 1] -> the twin's output per channel, clipped, float64."""
    with torch.no_grad():
        out = [model(torch.from_numpy(np.ascontiguousarray(x[None, None, :, :, c], np.float32)))[0, 0].numpy()
               for c in range(x.shape[2])]
    return np.clip(np.stack(out, -1).astype(np.float64), 0.0, 1.0)


def _image16(channels: int, seed: int = 0) -> np.ndarray:
    """A smooth ramp plus noise over most of the 16-bit range, so low bytes carry real information."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(2000, 60000, W)[None, :, None] + np.linspace(0, 3000, H)[:, None, None]
    return np.clip(ramp + rng.normal(0, 900, (H, W, channels)), 0, 65535).astype(np.uint16)


def _png16(path: Path, a: np.ndarray) -> None:
    """Written by hand (filter None), independently of jrestore's own 16-bit PNG writer."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    c = a.shape[2]
    rows = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(a.shape[0]))
    ihdr = struct.pack(">IIBBBBB", a.shape[1], a.shape[0], 16, 0 if c == 1 else 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def _tiff16(path: Path, a: np.ndarray) -> None:
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(path, a[..., 0] if a.shape[2] == 1 else a, photometric="minisblack" if a.shape[2] == 1 else "rgb")


def _read16_independently(path: Path) -> np.ndarray:
    """uint16 [H, W, C] without jrestore: tifffile for TIFF; for PNG the IHDR says 16 bits and Pillow (grey) or
    zlib + our own unfiltering of jrestore's Paeth rows (RGB)."""
    if path.suffix == ".tif":
        a = __import__("tifffile").imread(path)
        return a[..., None] if a.ndim == 2 else a
    data = path.read_bytes()
    w, h, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 16
    if colour == 0:
        return np.asarray(Image.open(path)).astype(np.uint16)[..., None]
    idat = b"".join(data[i + 8:i + 8 + struct.unpack(">I", data[i:i + 4])[0]]
                    for i in range(8, len(data)) if data[i + 4:i + 8] == b"IDAT")
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * 6)
    out = np.zeros((h, w * 6), np.int64)
    for y in range(h):  # the PNG spec's unfiltering, byte by byte (slow and plain: the reference)
        f, row = raw[y, 0], raw[y, 1:].astype(np.int64)
        for i in range(w * 6):
            a = out[y, i - 6] if i >= 6 else 0
            b = out[y - 1, i] if y else 0
            c = out[y - 1, i - 6] if y and i >= 6 else 0
            p = a + b - c
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2,
                    4: a if abs(p - a) <= min(abs(p - b), abs(p - c)) else b if abs(p - b) <= abs(p - c) else c}[f]
            out[y, i] = (row[i] + pred) % 256
    return (out.reshape(h, w, 3, 2) * [256, 1]).sum(-1).astype(np.uint16)


@pytest.mark.parametrize("kind", ["grey_png", "rgb_png", "grey_tif", "rgb_tif"])
def test_16bit_image_round_trips_through_restore_as_16bit(tmp_path, capsys, dncnn, kind):
    weights, twin = dncnn
    channels = 1 if kind.startswith("grey") else 3
    suffix = ".png" if kind.endswith("png") else ".tif"
    image = _image16(channels)
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    (_png16 if suffix == ".png" else _tiff16)(src, image)
    args = ["restore", "--model", "dncnn", "--weights", str(weights)] + (["--per-channel"] if channels == 3 else [])
    assert main(args + [str(src), str(dst)]) == 0, capsys.readouterr().err
    out = _read16_independently(dst)
    assert out.dtype == np.uint16 and out.shape == (H, W, channels)
    np.testing.assert_array_equal(read_image(dst, keep_16bit=True), out)  # jrestore reads back what it wrote
    want = _torch_restore(twin, image.astype(np.float64) / 65535)
    # float32 jax vs torch, then rounded to 16-bit levels
    assert np.abs(out.astype(np.float64) - np.round(want * 65535)).max() <= tolerances.IMAGE_LEVELS
    # not quantised to 8 bits: most values are not multiples of 257 (what an 8-bit result scaled up gives),
    # and the input's low bytes matter: restoring the input cut to 8 bits is far off somewhere
    assert np.mean(out % 257 != 0) >= tolerances.NOT_8BIT_FRACTION
    cut = np.round(_torch_restore(twin, (image >> 8).astype(np.float64) / 255) * 65535)
    assert np.abs(out.astype(np.float64) - cut).max() > 100 * tolerances.IMAGE_LEVELS


def test_16bit_output_to_a_format_without_16_bits_is_one_line(tmp_path, capsys, dncnn):
    src = tmp_path / "in.png"
    _png16(src, _image16(1))
    code = main(["restore", "--model", "dncnn", "--weights", str(dncnn[0]), str(src), str(tmp_path / "out.jpg")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "a 16-bit image is written as .png or .tif" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_one_channel_model_on_colour_says_luminance_once_or_restores_per_channel(tmp_path, capsys, dncnn):
    weights, twin = dncnn
    rng = np.random.default_rng(3)
    src = tmp_path / "in"
    src.mkdir()
    colours = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(2)]
    for i, c in enumerate(colours):
        Image.fromarray(c).save(src / f"c{i}.png")
    common = ["restore", "--model", "dncnn", "--weights", str(weights)]
    assert main(common + [str(src), str(tmp_path / "luma")]) == 0
    err = capsys.readouterr().err
    assert err.count("only the luminance (Y of YCbCr) is restored and the chroma kept") == 1, err
    assert "--per-channel" in err
    assert main(common + ["--per-channel", str(src), str(tmp_path / "rgb")]) == 0
    assert "luminance" not in capsys.readouterr().err
    for i, c in enumerate(colours):
        got = np.asarray(Image.open(tmp_path / "rgb" / f"c{i}.png"))
        want = np.round(_torch_restore(twin, c.astype(np.float64) / 255) * 255)
        assert got.dtype == np.uint8 and np.abs(got - want).max() <= tolerances.IMAGE_LEVELS
        luma = np.asarray(Image.open(tmp_path / "luma" / f"c{i}.png"))
        assert np.abs(luma.astype(int) - got).max() > 10 * tolerances.IMAGE_LEVELS  # the two modes really differ
    # a model that takes colour: --per-channel cannot take effect, so it is refused, not ignored
    assert main(["restore", "--model", "bicubic", "--scale", "2", "--per-channel", str(src / "c0.png"),
                 str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--per-channel: bicubic restores any number of channels at once" in err[0], err
    # grey images with the same model: nothing to say
    Image.fromarray(colours[0][..., 0]).save(tmp_path / "g.png")
    assert main(common + [str(tmp_path / "g.png"), str(tmp_path / "g_out.png")]) == 0
    assert "luminance" not in capsys.readouterr().err
