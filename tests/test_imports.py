"""Import rules (issue 13, item 2): the contracts in pyproject.toml's [tool.importlinter] hold.

`lint-imports` (import-linter, in the test extra) builds the import graph of jrestore, torch_ref and train
statically, without importing them, and exits 0 only when every contract is kept.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    """The lint-imports next to this interpreter (the venv's bin), else one on PATH."""
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: install the test extra (pip install -e '.[test]')")
    return found


def test_import_contracts_are_kept():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout and "BROKEN" not in proc.stdout, proc.stdout[-4000:]


# A meta-path hook that makes the named top-level packages unimportable, run before anything else.
_BLOCK = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is blocked in this test")
sys.meta_path.insert(0, _Block())
"""


def _run_blocked(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", _BLOCK.format(blocked=set(blocked)) + code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_torch_ref_runs_where_jax_and_flax_cannot_be_imported():
    """`import torch_ref` and a model's forward pass need only torch and jrestore's framework-neutral core.

    The forward pass is checked against a float64 convolution so the run is not vacuous."""
    code = """
import numpy as np, torch
import torch_ref, torch_ref.layers, torch_ref.losses, torch_ref.metrics, torch_ref.models, torch_ref.ops
from torch_ref.metrics.psnr import psnr
from jrestore.parity.tolerances import LAYER, METRIC_FLOAT32  # framework-neutral: no JAX
model = torch_ref.models.get("espcn", scale_factor=2).eval()
x = torch.rand(1, 1, 6, 7, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    y = model(x)
    first = model.first_part[0]
    want = torch.nn.functional.conv2d(x.double(), first.weight.double(), first.bias.double(), padding=2)
    got = first(x).double()
assert tuple(y.shape) == (1, 1, 12, 14), y.shape
assert float((got - want).abs().max()) < LAYER
b = x.clamp(0, 0.5)  # torch_ref's PSNR (and the protocol tables it reads from jrestore.core) against the formula
mse = float(((x.double() - b.double()) ** 2).mean())
assert abs(float(psnr(x, b).reshape(-1)[0]) - 10 * np.log10(1 / mse)) < METRIC_FLOAT32
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"jax", "jaxlib", "flax", "optax"})
print("FRAMEWORKS", loaded)
"""
    proc = _run_blocked(("jax", "jaxlib", "flax", "optax"), code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FRAMEWORKS []" in proc.stdout, proc.stdout[-2000:]


def test_jax_paths_run_where_torch_cannot_be_imported(tmp_path):
    """torch is the optional `torch` extra: restore / eval / export / convert with --framework jax and the JAX
    trainer work without it (weights as .safetensors), and a PyTorch pickle is refused in one line naming torch."""
    code = f"""
import json, sys
import numpy as np
from flax import nnx
from PIL import Image
from safetensors.numpy import save_file
import jrestore.models
from jrestore.cli import main
from jrestore.convert import torch_state_dict
from train.__main__ import main as train_main

tmp = {str(tmp_path)!r}
model = jrestore.models.get("dncnn", in_nc=1, out_nc=1, nc=4, nb=3, rngs=nnx.Rngs(0))
save_file({{k: np.array(v) for k, v in torch_state_dict(model).items()}}, tmp + "/dncnn.safetensors")
(__import__("pathlib").Path(tmp) / "set").mkdir()
Image.fromarray((np.random.default_rng(0).random((20, 24)) * 255).astype(np.uint8)).save(tmp + "/set/a.png")
w = ["--weights", tmp + "/dncnn.safetensors"]
assert main(["restore", "--model", "dncnn", *w, "--framework", "jax", tmp + "/set/a.png", tmp + "/out.png"]) == 0
assert Image.open(tmp + "/out.png").size == (24, 20)
assert main(["eval", "--model", "dncnn", *w, "--data", tmp + "/set", "--protocol", "kair_dncnn",
             "--framework", "jax", "--sigma", "25", "--json"]) == 0
assert main(["export", "--model", "dncnn", *w, "--out", tmp + "/exported", "--shape", "1,16,16,1"]) == 0
assert main(["convert", "--model", "dncnn", *w, "--framework", "jax", "--out", tmp + "/converted.safetensors"]) == 0
open(tmp + "/dncnn.pth", "wb").write(b"not read")
assert main(["restore", "--model", "dncnn", "--weights", tmp + "/dncnn.pth", "--framework", "jax",
             tmp + "/set/a.png", tmp + "/out2.png"]) == 2
assert train_main(["--config", "dncnn_s25:runlocal", "--workdir", tmp + "/run", "--set", "model.kwargs.nc=8",
                   "--set", "model.kwargs.nb=4", "--set", "val.source=''", "--set", "train.log_every=1",
                   "--set", "train.steps=2", "--set", "train.ckpt_every=2"]) == 0
print("FRAMEWORKS", sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "torch_ref", "torchvision"}}))
"""
    proc = _run_blocked(("torch", "torch_ref", "torchvision"), code)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "FRAMEWORKS []" in proc.stdout, proc.stdout[-2000:]
    evaluated = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith('{"model"')))
    psnr = evaluated["results"]["jax"]["mean_psnr"]
    assert np.isfinite(psnr) and 5 < psnr < 60, evaluated
    assert "needs torch" in proc.stderr and "jrestore restore: error:" in proc.stderr, proc.stderr[-2000:]
    assert (tmp_path / "exported" / "meta.json").is_file()
    # the JAX-only conversion writes what the two-framework one would: same keys, values and PyTorch dtypes
    from safetensors.numpy import load_file
    written, source = load_file(tmp_path / "converted.safetensors"), load_file(tmp_path / "dncnn.safetensors")
    assert sorted(written) == sorted(source)
    for key, value in source.items():
        want_dtype = np.int64 if key.endswith("num_batches_tracked") else np.float32
        assert written[key].dtype == want_dtype and np.array_equal(written[key], value), key
    losses = [json.loads(x)["loss"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if '"loss"' in x]
    assert len(losses) == 2 and all(np.isfinite(losses)), losses
