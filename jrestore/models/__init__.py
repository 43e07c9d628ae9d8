"""Model zoo: one file per paper family; every model is registered under the name torch_ref uses.

    jrestore.models.names()                    -> ['dncnn', 'espcn', ...]
    jrestore.models.get('dncnn', num_feat=32)  -> an NNX module (rngs defaults to nnx.Rngs(0))
"""
from __future__ import annotations

import importlib
import pkgutil

from flax import nnx

from jrestore.models._registry import MODELS, register

# Every family module registers its models on import: a new family file is found without editing this list.
for _family in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
                      and not m.name.endswith("_test")):
    importlib.import_module(f"{__name__}.{_family}")

__all__ = ["get", "names", "arguments", "register", "MODELS"]


def names() -> list[str]:
    return MODELS.names()


def arguments(name: str) -> list[str]:
    return MODELS.arguments(name)


def get(name: str, *, rngs: nnx.Rngs | None = None, **kwargs) -> nnx.Module:
    """Build model `name`; unknown names or arguments raise ValueError listing the valid ones."""
    return MODELS.get(name, rngs=rngs if rngs is not None else nnx.Rngs(0), **kwargs)
