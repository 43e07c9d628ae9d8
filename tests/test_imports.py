"""Import rules (issue 13, item 2): the contracts in pyproject.toml's [tool.importlinter] hold.

`lint-imports` (import-linter, in the test extra) builds the import graph of jrestore, torch_ref and train
statically, without importing them, and exits 0 only when every contract is kept.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
model = torch_ref.models.get("espcn", scale_factor=2).eval()
x = torch.rand(1, 1, 6, 7, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    y = model(x)
    first = model.first_part[0]
    want = torch.nn.functional.conv2d(x.double(), first.weight.double(), first.bias.double(), padding=2)
    got = first(x).double()
assert tuple(y.shape) == (1, 1, 12, 14), y.shape
assert float((got - want).abs().max()) < 1e-5
b = x.clamp(0, 0.5)  # torch_ref's PSNR (and the protocol tables it reads from jrestore.core) against the formula
mse = float(((x.double() - b.double()) ** 2).mean())
assert abs(float(psnr(x, b).reshape(-1)[0]) - 10 * np.log10(1 / mse)) < 1e-3
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"jax", "jaxlib", "flax", "optax"})
print("FRAMEWORKS", loaded)
"""
    proc = _run_blocked(("jax", "jaxlib", "flax", "optax"), code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FRAMEWORKS []" in proc.stdout, proc.stdout[-2000:]
