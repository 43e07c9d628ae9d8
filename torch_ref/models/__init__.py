"""PyTorch twins of jrestore.models, registered under the same names with the same constructor arguments."""
from __future__ import annotations

import importlib
import pkgutil

import torch

from torch_ref.models._registry import MODELS, register

# Every family module registers its models on import: a new family file is found without editing this list.
for _family in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
                      and not m.name.endswith("_test")):
    importlib.import_module(f"{__name__}.{_family}")

__all__ = ["get", "names", "arguments", "register", "MODELS"]


def names() -> list[str]:
    return MODELS.names()


def arguments(name: str) -> list[str]:
    return MODELS.arguments(name)


def get(name: str, **kwargs) -> torch.nn.Module:
    """Build model `name`; unknown names or arguments raise ValueError listing the valid ones."""
    return MODELS.get(name, **kwargs)
