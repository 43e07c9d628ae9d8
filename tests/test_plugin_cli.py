"""A user's own model through the command line: `--plugin examples/tiny_plugin.py` on verify, restore, eval,
and one line (exit 2) for a plugin that cannot be used, on every command.

Run in-process through jrestore.cli.main; the `plugin_sandbox` fixture (conftest.py) forgets the plugin's
model after each test. Outputs are checked against the plugin's PyTorch twin run here by hand.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the plugin example defines a PyTorch twin")

from jrestore.cli import COMMANDS, main  # noqa: E402
from jrestore.core.ops.noise import numpy_legacy_gaussian_noise  # noqa: E402
from jrestore.parity import tolerances  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tiny_plugin.py"
NC = 8  # the weights written below; the spec's weights_rule must read it back (the class default is 16)


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def plugin_weights(tmp_path, plugin_sandbox):
    """A trained-looking tiny_denoiser checkpoint: the torch twin's init (nc=8) moved off it by a seeded
    perturbation (a default init's zero-mean noise estimate would make any twin look right)."""
    from jrestore.core.plugins import load_plugin
    from jrestore.parity.harness import perturb_

    load_plugin(EXAMPLE)
    import torch_ref.models

    torch.manual_seed(0)
    model = perturb_(torch_ref.models.get("tiny_denoiser", nc=NC), seed=1).eval()
    path = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), path)
    return path, model


def _clean_image() -> np.ndarray:
    import skimage.data

    return skimage.data.camera()[200:236, 150:190]  # 36 x 40 grey uint8


def _twin(model, x_hw1: np.ndarray) -> np.ndarray:
    """The torch twin on one [H, W, 1] float32 image, as [H, W, 1]."""
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x_hw1.transpose(2, 0, 1)[None])))
    return y[0].numpy().transpose(1, 2, 0)


def test_verify_json_of_the_plugin_model(capsys, plugin_sandbox):
    code, out, err = cli(capsys, "verify", "--plugin", EXAMPLE, "--model", "tiny_denoiser", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True and report["perturbed"] is True
    # the spec's ParityCase: its full inputs and the default constructor; a layer table by the classes' names
    assert report["inputs"] == [[1, 33, 29, 1]] and report["kwargs"] == {}
    assert [r["layer"] for r in report["layers"]] == ["conv1", "conv2"]
    assert 0 < report["grad_max_abs_diff"] < tolerances.GRADIENT
    assert report["max_abs_diff_train"] is None  # the case says no train mode (no BatchNorm)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_restore_with_the_plugin_model(tmp_path, capsys, plugin_weights, framework):
    weights, model = plugin_weights
    noisy = np.clip(_clean_image() + np.random.default_rng(0).normal(0, 25, _clean_image().shape), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / "noisy.png")
    code, _, err = cli(capsys, "restore", "--plugin", EXAMPLE, "--model", "tiny_denoiser", "--weights", weights,
                       "--framework", framework, "--tile", 0, tmp_path / "noisy.png", tmp_path / "out.png")
    assert code == 0, err
    restored = np.asarray(Image.open(tmp_path / "out.png"), dtype=np.float64)
    x = (np.asarray(Image.open(tmp_path / "noisy.png"), dtype=np.float32) / 255)[..., None]
    expected = np.clip(_twin(model, x)[..., 0], 0, 1) * 255
    # the file holds uint8: the twin's output rounded, one level off at most where float32 rounding puts a
    # value on the other side of a .5 (a rare pixel)
    assert restored.shape == expected.shape
    assert np.abs(restored - np.round(expected)).max() <= tolerances.IMAGE_LEVELS
    assert np.mean(restored == np.round(expected)) >= tolerances.IMAGE_LEVELS_EQUAL_FRACTION


def test_eval_with_the_plugin_model(tmp_path, capsys, plugin_weights):
    weights, model = plugin_weights
    (tmp_path / "set").mkdir()
    clean = _clean_image()
    Image.fromarray(clean).save(tmp_path / "set" / "camera.png")
    code, out, err = cli(capsys, "eval", "--plugin", EXAMPLE, "--model", "tiny_denoiser", "--weights", weights,
                         "--data", tmp_path / "set", "--protocol", "kair_dncnn", "--sigma", 25, "--json")
    assert code == 0, err
    results = json.loads(out)["results"]
    # KAIR's protocol by hand: seeded noise on the float32 image, the twin, clip-round to uint8, PSNR
    x = (clean.astype(np.float32) / 255)[..., None]
    noisy = (x.astype(np.float64) + numpy_legacy_gaussian_noise(x.shape, 25, seed=0, dtype=np.float64)).astype(np.float32)
    restored = np.round(np.clip(_twin(model, noisy), 0, 1) * 255)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((restored[..., 0] - clean.astype(np.float64)) ** 2))
    for framework in ("jax", "torch"):
        assert results[framework]["per_image"]["camera.png"] == pytest.approx(psnr, abs=tolerances.PSNR_CROSS_FRAMEWORK_DB)


# the smallest arguments each command parses; the plugin is loaded before any of them is looked at
REQUIRED = {
    "demo": [], "bench": [], "verify": ["--model", "x"], "export": ["--model", "x", "--out", "o"],
    "eval": ["--model", "x", "--data", "d", "--protocol", "kair_dncnn"], "restore": ["--model", "x", "in", "out"],
    "convert": ["--model", "x", "--weights", "w", "--out", "o"], "train": ["--config", "c", "--workdir", "w"],
    "table": ["denoise", "--data", "d", "--method", "x"],
    "quantize": ["--weights", "w", "--method", "ptq", "--calib", "c", "--out", "o.safetensors", "--protocol", "kair_dncnn"],
}


def test_every_command_takes_plugin():
    assert sorted(REQUIRED) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_a_missing_plugin_is_one_line_on_every_command(tmp_path, capsys, plugin_sandbox, command):
    missing = tmp_path / "no_such_plugin.py"
    code, out, err = cli(capsys, command, "--plugin", missing, *REQUIRED[command])
    assert code == 2 and out == ""
    assert err == f"jrestore {command}: error: --plugin '{missing}': no such file\n"


def test_a_plugin_that_raises_is_one_line(tmp_path, capsys, plugin_sandbox):
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("import jrestore\nraise ImportError('needs my_private_package')\n")
    code, _, err = cli(capsys, "verify", "--plugin", bad, "--model", "tiny_denoiser")
    assert code == 2
    assert err == f"jrestore verify: error: --plugin '{bad}': importing it raised ImportError: needs my_private_package\n"


def test_train_the_plugin_model_with_the_generic_recipe(tmp_path, capsys, plugin_sandbox):
    """`--config tiny_denoiser:runlocal`: no recipe module; train.config builds the generic one for the
    spec's kind (denoise: MSE, Adam, skimage images) and the runlocal smoke sizes."""
    workdir = tmp_path / "run"
    code, _, err = cli(capsys, "train", "--plugin", EXAMPLE, "--config", "tiny_denoiser:runlocal",
                       "--workdir", workdir)
    assert code == 0, err
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses and all(np.isfinite(losses)) and all(v > 0 for v in losses)
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir())  # a checkpoint was written


def test_the_readme_shows_the_example_as_it_is():
    """The README's "Your own model" holds the complete example file; a change to one without the other fails."""
    readme = (ROOT / "README.md").read_text()
    assert EXAMPLE.read_text().strip() in readme
    command = "jrestore verify --plugin examples/tiny_plugin.py --model tiny_denoiser --json"
    assert command in readme
    shown = json.loads(readme.split(command, 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0])
    assert shown["model"] == "tiny_denoiser" and shown["ok"] is True and shown["perturbed"] is True
