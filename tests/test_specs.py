"""The model specs are the one place a model's contract lives: every registered model has one, and no code
outside a model's own files tests a model's name."""
import re
from pathlib import Path

import jrestore.models
import torch_ref.models
from jrestore.core.spec import all_specs

ROOT = Path(__file__).resolve().parents[1]


def test_every_registered_model_has_a_spec_and_twin():
    assert sorted(all_specs()) == jrestore.models.names() == torch_ref.models.names()


def _library_files():
    for package in ("jrestore", "torch_ref", "train"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if path.name.endswith("_test.py") or "/core/models/" in rel or "/models/" in rel or "/configs/" in rel:
                continue  # a model's own files (JAX, PyTorch, spec) and the recipes that name their model
            yield rel, path.read_text()


def test_no_library_code_tests_a_model_name():
    names = "|".join(sorted(all_specs(), key=len, reverse=True))
    # a model-holding expression (args.model, cfg.model.name, a bare `name` or `model`) compared with a name
    subject = r"(?:[\w.]*model[\w.]*|(?<![\w.])name)"
    pattern = re.compile(rf"""{subject}\s*(?:==|!=|\bin\b|\.startswith\()\s*\(?\s*["']({names})["']""")
    hits = [f"{rel}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0)}"
            for rel, text in _library_files() for m in pattern.finditer(text)]
    assert not hits, "model names tested outside the model's spec:\n" + "\n".join(hits)
