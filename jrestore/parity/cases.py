"""The parity case of every registered model (built-ins and loaded plugins), read from the model specs.

    from jrestore.parity.cases import get_case
    case = get_case("dncnn")       # a jrestore.core.spec.ParityCase
    case.inputs(np.random.default_rng(0), False), case.small

`CASES` is the same as a dict, computed when read (so plugins registered later are included).
"""
from __future__ import annotations

from jrestore.core.spec import ParityCase, all_specs

__all__ = ["CASES", "get_case", "all_cases"]


def all_cases() -> dict[str, ParityCase]:
    return {name: spec.parity for name, spec in all_specs().items() if spec.parity is not None}


def get_case(name: str) -> ParityCase:
    """The case of model `name`; ValueError naming the models that have one."""
    cases = all_cases()
    if name not in cases:
        raise ValueError(f"--model: {name!r} has no parity case (its spec's `parity`); expected one of {list(cases)}")
    return cases[name]


def __getattr__(attr: str):
    if attr == "CASES":
        return all_cases()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
