"""Fault corpus for `jrestore restore / eval / convert / export / verify` (issue 12, item 4): every user mistake
and every bad file gives exit status != 0 with ONE line naming the cause, never a traceback, never a silent
wrong result, never a lost or partial output. All inputs are built here, in tmp_path, at test time.

Cases are run in-process through `jrestore.cli.main` (fast) and a few through a real `python -m jrestore`
subprocess, which proves that no 'Traceback' reaches stderr.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import torch_ref.models as tmodels
from jrestore.cli import main

ROOT = Path(__file__).resolve().parents[1]
DNCNN = dict(nc=8, nb=4, act_mode="R")
FSRCNN = dict(d=8, s=4, m=2)


# ---- building inputs ----

def perturbed_state(name: str, seed: int = 0, **kwargs) -> dict:
    torch.manual_seed(seed)
    sd = tmodels.get(name, **kwargs).state_dict()
    gen = torch.Generator().manual_seed(seed)
    return {k: (v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v) for k, v in sd.items()}


def grey(path: Path, size=(24, 24), seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)).save(path)
    return path


def png_bytes(width: int, height: int, bit_depth: int = 8, colour_type: int = 0, pixels: bytes | None = None) -> bytes:
    """A PNG by hand (Pillow cannot write 48-bit RGB): IHDR, one zlib IDAT, IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(pixels or b""))
            + chunk(b"IEND", b""))


def bomb_png(path: Path) -> Path:
    """A 30000 x 30000 (900 MP) PNG of 60 bytes: the header alone declares the size."""
    path.write_bytes(png_bytes(30000, 30000))
    return path


def rgba64_png(path: Path) -> Path:
    """16-bit RGBA: still refused (an alpha channel), though 16-bit grey and RGB are now read."""
    a = (np.arange(24 * 24 * 4).reshape(24, 24, 4) * 91 % 65536).astype(">u2")
    path.write_bytes(png_bytes(24, 24, 16, 6, b"".join(b"\x00" + a[y].tobytes() for y in range(24))))
    return path


def float_tiff(path: Path) -> Path:
    """A float32 TIFF (Pillow mode F): its white level is unknown, so it is refused."""
    Image.fromarray(np.full((24, 24), 0.3, np.float32)).save(path, format="TIFF")
    return path


def truncated_png(path: Path) -> Path:
    grey(path)
    path.write_bytes(path.read_bytes()[:120])
    return path


def leftovers(folder: Path) -> list[str]:
    """Temporary files a writer left behind (atomic writes use hidden '.name.*' files)."""
    return sorted(p.name for p in Path(folder).rglob(".*"))


def cli(capsys, *argv) -> tuple[int, str, list[str]]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, [ln for ln in captured.err.splitlines() if ln.strip()]


def one_line(err: list[str], *needles: str) -> str:
    assert len(err) == 1, err
    for n in needles:
        assert n in err[0], (n, err[0])
    assert "Traceback" not in err[0]
    return err[0]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """Small weight files: good ones in each format, and every bad kind."""
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("weights")
    dncnn = perturbed_state("dncnn", **DNCNN)
    out = {"dncnn": d / "dncnn.pth", "dncnn_st": d / "dncnn.safetensors"}
    torch.save(dncnn, out["dncnn"])
    save_file({k: v.contiguous() for k, v in dncnn.items()}, str(out["dncnn_st"]))
    nan = dict(dncnn)
    nan["model.2.weight"] = nan["model.2.weight"].clone()
    nan["model.2.weight"][0, 0, 1, 1] = float("nan")
    save_file(nan, str(d / "nan.safetensors"))
    inf = dict(dncnn)
    inf["model.0.bias"] = torch.full_like(inf["model.0.bias"], float("inf"))
    torch.save(inf, d / "inf.pth")
    save_file({k: (v * 100).to(torch.int32) for k, v in dncnn.items()}, str(d / "int32.safetensors"))
    fsrcnn = perturbed_state("fsrcnn", scale_factor=3, **FSRCNN)
    for name in ("fsrcnn_x3.pth", "fsrcnn_x2.pth"):  # the same x3 weights, the second one renamed
        torch.save(fsrcnn, d / name)
    torch.save(perturbed_state("ista_net", num_phases=1), d / "ista_net_ratio_25.pth")
    # a short .mat, an empty one, a truncated .pth
    import scipy.io
    layers = np.empty((1, 1), dtype=object)
    layers[0, 0] = {"type": "conv", "weights": np.array([[np.ones((3, 3, 1, 4), np.float32),
                                                          np.zeros((4, 1), np.float32)]], dtype=object)}
    scipy.io.savemat(d / "full.mat", {"net": {"layers": layers}})
    (d / "short.mat").write_bytes((d / "full.mat").read_bytes()[:100])
    (d / "empty.mat").write_bytes(b"")
    (d / "truncated.pth").write_bytes(out["dncnn"].read_bytes()[:200])
    # pickles that need code: os.system (would create a marker file) and a custom class
    marker = d / "PWNED"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    torch.save({"model.0.weight": Evil()}, d / "evil.pth")
    torch.save({"model.0.weight": _Custom()}, d / "custom.pth")
    # folders given as --weights: a plain one and one laid out like a training checkpoint
    (d / "a_folder").mkdir()
    ckpt = d / "workdir" / "checkpoints" / "100"
    ckpt.mkdir(parents=True)
    (ckpt / "_CHECKPOINT_METADATA").write_text("{}")
    # verify: one tensor of the wrong shape among correct ones
    wrong = dict(dncnn)
    wrong["model.2.weight"] = torch.zeros(8, 8, 5, 5)
    torch.save(wrong, d / "wrong_shape.pth")
    out.update({p.stem if p.suffix != ".safetensors" else p.stem + "_st": p for p in d.iterdir()})
    out["marker"] = marker
    out["checkpoint_folder"] = d / "workdir" / "checkpoints"
    return out


class _Custom:  # module-level so torch.save can pickle it by reference
    pass


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


# ---- folders: one bad file never aborts the run ----

BAD_FILES = {
    "bomb": (bomb_png, "decompression bomb"),
    "truncated": (truncated_png, "not a readable image"),
    "rgba64": (rgba64_png, "alpha channel"),
    "float": (float_tiff, "32-bit TIFF image in mode F"),
    "tiny": (lambda p: grey(p, (5, 24)), "smaller than dncnn's minimum"),
    "text": (lambda p: (p.write_text("not an image"), p)[1], "not a readable image"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_folder_restore_goes_on_past_a_bad_file(tmp_path, capsys, weights, kind):
    make, reason = BAD_FILES[kind]
    src = tmp_path / "in"
    src.mkdir()
    good = [grey(src / "a.png", seed=1), grey(src / "c.png", seed=2)]
    bad = make(src / "b.png")
    dst = tmp_path / "out"
    code, out, err = cli(capsys, "restore", "--model", "dncnn", "--weights", weights["dncnn"], src, dst)
    assert code == 1
    assert [ln for ln in err if ln.startswith("jrestore restore: ")] == [err[0]] and str(bad) in err[0] \
        and reason in err[0], err
    assert err[-1] == f"restored 2 of 3 images into {dst}; 1 failed", err
    assert not any("Traceback" in ln for ln in err)
    assert sorted(p.name for p in dst.iterdir()) == ["a.png", "c.png"] and leftovers(dst) == []
    # the good ones are exactly what restoring them one by one gives
    for g in good:
        assert cli(capsys, "restore", "--model", "dncnn", "--weights", weights["dncnn"], g, tmp_path / g.name)[0] == 0
        np.testing.assert_array_equal(np.asarray(Image.open(dst / g.name)), np.asarray(Image.open(tmp_path / g.name)))


def test_folder_restore_refuses_two_inputs_with_one_output_name(tmp_path, capsys, weights):
    src = tmp_path / "in"
    src.mkdir()
    grey(src / "a.png")
    Image.open(src / "a.png").save(src / "a.jpg")
    grey(src / "b.png")
    code, _, err = cli(capsys, "restore", "--model", "dncnn", "--weights", weights["dncnn"], src, tmp_path / "out")
    assert code == 2
    one_line(err, "a.jpg and a.png would both be written to", "a.png")
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_folder_restore_subprocess_has_no_traceback(tmp_path, weights):
    src = tmp_path / "in"
    src.mkdir()
    grey(src / "a.png")
    bomb_png(src / "bomb.png")
    proc = subprocess.run([sys.executable, "-m", "jrestore", "restore", "--model", "dncnn", "--weights",
                           str(weights["dncnn"]), str(src), str(tmp_path / "out")], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("jrestore restore: ")]
    assert len(lines) == 1 and "bomb.png" in lines[0] and "over the limit" in lines[0], proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


# ---- weights: no silent wrong results ----

@pytest.mark.parametrize("name,needles", [
    ("nan_st", ("'model.2.weight'", "non-finite", "NaN or Inf")),
    ("inf", ("'model.0.bias'", "non-finite")),
    ("int32_st", ("'model.0.bias'", "int32", "floating point")),  # safetensors sorts its keys
    ("short", ("short.mat", "truncated or corrupt")),
    ("empty", ("empty.mat", "not a MATLAB MAT-file")),
    ("truncated", ("truncated.pth", "cannot load", "PyTorch weights file")),
    ("a_folder", ("a_folder is a folder, not a weights file",)),
    ("checkpoint_folder", ("is a folder, not a weights file", "training checkpoint")),
    ("custom", ("would run arbitrary code", "_Custom", "not loaded")),
])
def test_bad_weights_are_refused_with_one_line(tmp_path, capsys, weights, name, needles):
    img = grey(tmp_path / "x.png")
    out = tmp_path / "y.png"
    code, _, err = cli(capsys, "restore", "--model", "dncnn", "--weights", weights[name], img, out)
    assert code == 2
    one_line(err, "jrestore restore: error: --weights", *needles)
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_pickle_that_runs_code_is_refused_and_never_run(tmp_path, capsys, weights):
    img = grey(tmp_path / "x.png")
    code, _, err = cli(capsys, "restore", "--model", "dncnn", "--weights", weights["evil"], img, tmp_path / "y.png")
    assert code == 2
    # torch 2.13's wording ("unsupported GLOBAL posix.system whose module posix is blocked"), not a cut paragraph
    one_line(err, "evil.pth", "is a pickle that would run arbitrary code when loaded", "posix.system", "not loaded")
    assert not weights["marker"].exists()  # os.system never ran


@pytest.mark.parametrize("command", ["convert", "export", "verify"])
def test_nan_weights_refused_by_every_command(tmp_path, capsys, weights, command):
    extra = {"convert": ["--out", tmp_path / "w.safetensors"], "export": ["--out", tmp_path / "exp"], "verify": []}
    code, _, err = cli(capsys, command, "--model", "dncnn", "--weights", weights["nan_st"], *extra[command])
    assert code == 2
    one_line(err, f"jrestore {command}: error:", "non-finite")
    assert list(tmp_path.iterdir()) == []


def test_scale_is_never_guessed_from_the_file_name(tmp_path, capsys, weights):
    img = grey(tmp_path / "x.png")
    for name in ("fsrcnn_x3", "fsrcnn_x2"):  # x3 weights, the second renamed: neither name is believed
        code, _, err = cli(capsys, "restore", "--model", "fsrcnn", "--weights", weights[name], img, tmp_path / "y.png")
        assert code == 2
        one_line(err, "--scale: fsrcnn needs the SR factor", "do not determine it", "pass --scale N")
    assert not (tmp_path / "y.png").exists()
    # with --scale the same file runs at that factor, as asked
    assert cli(capsys, "restore", "--model", "fsrcnn", "--weights", weights["fsrcnn_x2"], "--scale", "3", img,
               tmp_path / "y.png")[0] == 0
    assert np.asarray(Image.open(tmp_path / "y.png")).shape == (72, 72)


def test_scale_recorded_by_convert_is_used_and_checked(tmp_path, capsys, weights, umask_022):
    st = tmp_path / "fsrcnn.safetensors"
    code, out, _ = cli(capsys, "convert", "--model", "fsrcnn", "--weights", weights["fsrcnn_x2"],
                       "--set", "scale_factor=3", "--out", st)
    assert code == 0 and "converted" in out
    assert st.stat().st_mode & 0o777 == 0o644 and leftovers(tmp_path) == []
    img = grey(tmp_path / "x.png")
    assert cli(capsys, "restore", "--model", "fsrcnn", "--weights", st, img, tmp_path / "y.png")[0] == 0
    assert np.asarray(Image.open(tmp_path / "y.png")).shape == (72, 72)
    code, _, err = cli(capsys, "restore", "--model", "fsrcnn", "--weights", st, "--scale", "2", img, tmp_path / "z.png")
    assert code == 2
    one_line(err, "was trained for x3", "--scale 2")
    assert not (tmp_path / "z.png").exists()


def test_export_refuses_an_undetermined_scale(tmp_path, capsys, weights):
    out = tmp_path / "exp"
    code, _, err = cli(capsys, "export", "--model", "fsrcnn", "--weights", weights["fsrcnn_x3"], "--out", out)
    assert code == 2
    one_line(err, "--set scale_factor=N: the weights of fsrcnn do not determine its SR factor")
    assert not out.exists()


def test_cs_ratio_is_never_guessed_from_the_file_name(tmp_path, capsys, weights):
    img = grey(tmp_path / "x.png", (33, 33))
    code, _, err = cli(capsys, "restore", "--model", "ista_net", "--set", "num_phases=1", "--weights",
                       weights["ista_net_ratio_25"], img, tmp_path / "y.png")
    assert code == 2
    one_line(err, "--cs-ratio: ista_net needs the sampling ratio")


@pytest.mark.parametrize("argv,needles", [
    (["eval", "--model", "bicubic", "--protocol", "selfexsr", "--scale", "0"], ("--scale", "positive integer", "0")),
    (["restore", "--model", "bicubic", "--scale", "-2"], ("--scale", "positive integer", "-2")),
    (["restore", "--model", "dncnn", "--scale", "2"], ("--scale: dncnn is a denoise model",)),
])
def test_bad_scale_one_line(tmp_path, capsys, weights, argv, needles):
    img = grey(tmp_path / "x.png")
    if argv[0] == "eval":
        argv = argv + ["--data", str(tmp_path), "--framework", "jax"]
    else:
        argv = argv + (["--weights", str(weights["dncnn"])] if "dncnn" in argv else []) + [str(img), str(tmp_path / "y.png")]
    code, _, err = cli(capsys, *argv)
    assert code == 2
    one_line(err, *needles)
    assert not (tmp_path / "y.png").exists()


def test_verify_names_the_wrong_shaped_key_and_both_shapes(capsys, weights):
    code, _, err = cli(capsys, "verify", "--model", "dncnn", "--weights", weights["wrong_shape"])
    assert code == 2
    one_line(err, "key 'model.2.weight' has shape (8, 8, 5, 5)", "expects (8, 8, 3, 3)")
    assert "missing" not in err[0]


# ---- images ----

def test_exif_orientation_is_applied(tmp_path, capsys, weights):
    stored = np.random.default_rng(5).integers(0, 256, (16, 24, 3), dtype=np.uint8)  # 24 wide, 16 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": shown 16 wide, 24 high
    Image.fromarray(stored).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    with Image.open(tmp_path / "photo.jpg") as im:  # the decoded pixels, turned as a viewer turns them
        im.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "upright.png")
    common = ["restore", "--model", "dncnn", "--weights", weights["dncnn"]]
    assert cli(capsys, *common, tmp_path / "photo.jpg", tmp_path / "a.png")[0] == 0
    assert cli(capsys, *common, tmp_path / "upright.png", tmp_path / "b.png")[0] == 0
    a, b = np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png"))
    assert a.shape == (24, 16, 3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make,needles", [
    (lambda d: rgba64_png(d / "rgba64.png"), ("16-bit image with an alpha channel",)),
    (lambda d: float_tiff(d / "float.tif"), ("32-bit TIFF image in mode F", "is not read")),
    (lambda d: bomb_png(d / "bomb.png"), ("900,000,000 pixels", "over the limit of 89,478,485", "JRESTORE_MAX_PIXELS")),
], ids=["rgba64_png", "float_tiff", "bomb"])
def test_images_refused_not_truncated(tmp_path, capsys, weights, make, needles):
    img = make(tmp_path)
    out = tmp_path / "out.png"
    code, _, err = cli(capsys, "restore", "--model", "dncnn", "--weights", weights["dncnn"], img, out)
    assert code == 2
    one_line(err, str(img), *needles)
    assert not out.exists() and leftovers(tmp_path) == []


def test_pixel_limit_from_the_environment(tmp_path, capsys, weights, monkeypatch):
    img = grey(tmp_path / "x.png")
    common = ["restore", "--model", "dncnn", "--weights", weights["dncnn"], img]
    monkeypatch.setenv("JRESTORE_MAX_PIXELS", "500")
    code, _, err = cli(capsys, *common, tmp_path / "y.png")
    assert code == 2
    one_line(err, "576 pixels (24x24), over the limit of 500")
    monkeypatch.setenv("JRESTORE_MAX_PIXELS", "lots")
    code, _, err = cli(capsys, *common, tmp_path / "y.png")
    assert code == 2
    one_line(err, "JRESTORE_MAX_PIXELS: expected a positive pixel count, got 'lots'")
    monkeypatch.setenv("JRESTORE_MAX_PIXELS", "576")
    assert cli(capsys, *common, tmp_path / "y.png")[0] == 0


# ---- outputs: permissions, folders ----

def test_outputs_get_the_umask_permissions(tmp_path, capsys, weights, umask_022):
    img = grey(tmp_path / "x.png")
    assert cli(capsys, "restore", "--model", "dncnn", "--weights", weights["dncnn"], img, tmp_path / "y.png")[0] == 0
    assert (tmp_path / "y.png").stat().st_mode & 0o777 == 0o644
    os.umask(0o027)
    src = tmp_path / "in"
    src.mkdir()
    grey(src / "a.png")
    assert cli(capsys, "restore", "--model", "dncnn", "--weights", weights["dncnn"], src, tmp_path / "o")[0] == 0
    assert (tmp_path / "o" / "a.png").stat().st_mode & 0o777 == 0o640
    assert leftovers(tmp_path) == []


def test_export_folder_and_files_get_the_umask_permissions(tmp_path, capsys, weights, umask_022):
    out = tmp_path / "exp"
    code, stdout, _ = cli(capsys, "export", "--model", "dncnn", "--weights", weights["dncnn"], "--out", out,
                          "--shape", "1,16,16,1", "--concrete")
    assert code == 0 and "OK" in stdout
    assert out.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {
        "model.stablehlo": 0o644, "params.safetensors": 0o644, "meta.json": 0o644}
    assert leftovers(tmp_path) == []


def _file_parent(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("a file")
    return tmp / "notes.txt" / "sub" / "y.png"


def _unwritable(tmp: Path) -> Path:
    if os.geteuid() != 0:
        ro = tmp / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro / "y.png"
    if not Path("/sys").is_dir() or os.access("/sys", os.W_OK) and _can_write("/sys"):
        pytest.skip("root and no read-only folder to write into (/sys is writable here)")
    return Path("/sys/jrestore_fault_test.png")


def _can_write(folder) -> bool:
    import tempfile
    try:
        fd, p = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(p)
    return True


@pytest.mark.parametrize("make_out,needles", [
    (_file_parent, ("notes.txt is a file, not a folder",)),
    (lambda t: t / "missing" / "y.png", ("no such folder", "missing")),
    (_unwritable, ("cannot write into",)),
], ids=["parent_is_a_file", "missing_folder", "unwritable_folder"])
def test_restore_output_problems_found_before_the_model_loads(tmp_path, capsys, weights, make_out, needles):
    img = grey(tmp_path / "x.png")
    out = make_out(tmp_path)
    # weights that would fail to load: the output error coming first proves it is checked before the model
    code, _, err = cli(capsys, "restore", "--model", "dncnn", "--weights", weights["evil"], img, out)
    assert code == 2
    one_line(err, "jrestore restore: error: output:", *needles)
    assert not out.exists()


@pytest.mark.parametrize("command", ["convert", "export"])
def test_convert_export_output_parent_is_a_file(tmp_path, capsys, weights, command):
    (tmp_path / "notes.txt").write_text("a file")
    out = tmp_path / "notes.txt" / ("w.safetensors" if command == "convert" else "exp")
    code, _, err = cli(capsys, command, "--model", "dncnn", "--weights", weights["evil"], "--out", out)
    assert code == 2
    one_line(err, f"jrestore {command}: error: --out:", "notes.txt is a file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "a file"


def test_folder_output_that_is_a_file(tmp_path, capsys, weights):
    src = tmp_path / "in"
    src.mkdir()
    grey(src / "a.png")
    (tmp_path / "out.png").write_text("x")
    code, _, err = cli(capsys, "restore", "--model", "dncnn", "--weights", weights["dncnn"], src, tmp_path / "out.png")
    assert code == 2
    one_line(err, "is a file; a folder input needs an output folder")


# ---- internal errors: one line, traceback only on request ----

def test_internal_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    import jrestore.cli.restore as restore_cli

    def broken(args):
        raise RuntimeError("something unforeseen\nsecond line")
    monkeypatch.setattr(restore_cli, "run", broken)
    argv = ["restore", "--model", "dncnn", "a.png", "b.png"]
    code, _, err = cli(capsys, *argv)
    assert code == 1
    one_line(err, "jrestore restore: internal error: RuntimeError: something unforeseen second line",
             "run with --debug or JRESTORE_DEBUG=1")
    for debug_argv in (["--debug"] + argv, argv[:1] + ["--debug"] + argv[1:]):
        with pytest.raises(RuntimeError, match="something unforeseen"):
            main(debug_argv)
    monkeypatch.setenv("JRESTORE_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(argv)


def test_internal_error_subprocess_has_no_traceback_unless_debug(tmp_path):
    code = ("import sys, jrestore.cli.restore as r\n"
            "def boom(args): raise KeyError('k')\n"
            "r.run = boom\n"
            "from jrestore.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("JRESTORE_DEBUG", None)
    argv = [sys.executable, "-c", code, "restore", "--model", "dncnn", "a.png", "b.png"]
    plain = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [
        "jrestore restore: internal error: KeyError: 'k' (run with --debug or JRESTORE_DEBUG=1 for the traceback)"]
    debug = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env={**env, "JRESTORE_DEBUG": "1"},
                           timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "KeyError: 'k'" in debug.stderr
