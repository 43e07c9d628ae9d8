"""What each model restores and what its inputs must look like, read from the model specs
(jrestore.core.spec; each model's own in jrestore/core/models/<family>.py). Kept as the inference layer's
entry point: `get_spec` accepts only restorers (eval, restore and export refuse discriminators and
feature extractors with one message naming the restorers)."""
from __future__ import annotations

from jrestore.core.spec import MIN_SIZE, ModelSpec, all_specs, restorer_spec

__all__ = ["ModelSpec", "get_spec", "restorer_names", "MIN_SIZE"]

get_spec = restorer_spec


def restorer_names() -> list[str]:
    """Registered image-restoration models (built-ins and loaded plugins), sorted."""
    return [n for n, s in all_specs().items() if s.kind is not None]
