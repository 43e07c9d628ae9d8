"""Every registered model against its torch_ref twin: eval, train (BN statistics), gradients, one Adam step."""
import numpy as np
import pytest
import torch
from flax import nnx

import jrestore.models
import torch_ref.models
from jrestore.parity import tolerances
from jrestore.parity.cases import CASES
from jrestore.parity.model_parity import compare_model

NAMES = jrestore.models.names()


def _fmt(result):
    lines = []
    for check, summary in result.items():
        if isinstance(summary, dict) and not summary["ok"]:
            bad = summary["leaves"][summary["first_bad"]]
            lines.append(f"{check}: first over tolerance {summary['first_bad']} max_abs {bad['max_abs']:.3e} "
                         f"(scale {bad['scale']:.3g}, at {bad['argmax']})")
    return "\n".join(lines)


def test_every_model_has_twin_and_case():
    assert NAMES, "no models registered"
    assert sorted(torch_ref.models.names()) == NAMES
    missing = [n for n in NAMES if n not in CASES]
    assert not missing, f"models without a parity case: {missing}"
    for name in NAMES:
        assert jrestore.models.arguments(name) == torch_ref.models.arguments(name), name


@pytest.mark.parametrize("name", NAMES)
def test_small_model_parity(name):
    case = CASES[name]
    inputs = case.inputs(np.random.default_rng(0), False)
    result = compare_model(name, case.small, inputs, seed=1, train_mode=case.train_mode, grad=case.grad,
                           atol=case.atol)
    assert result["ok"], _fmt(result)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_full_size_model_eval_parity_and_param_count(name):
    case = CASES[name]
    inputs = case.inputs(np.random.default_rng(0), True)
    result = compare_model(name, case.full, inputs, seed=2, train_mode=False, grad=False, atol=case.atol)
    assert result["ok"], _fmt(result)
    tm = torch_ref.models.get(name, **case.full)
    jm = jrestore.models.get(name, **case.full)
    n_torch = sum(p.numel() for p in tm.parameters())
    n_jax = sum(int(np.prod(v.shape)) for _, v in nnx.to_flat_state(nnx.state(jm, nnx.Param)))
    assert n_jax == n_torch


def test_unknown_name_and_argument_are_rejected():
    with pytest.raises(ValueError, match="unknown model 'nope'; valid names"):
        jrestore.models.get("nope")
    with pytest.raises(ValueError, match="unknown model 'nope'; valid names"):
        torch_ref.models.get("nope")
    if NAMES:
        with pytest.raises(ValueError, match="unknown argument"):
            jrestore.models.get(NAMES[0], not_an_argument=1)
        with pytest.raises(ValueError, match="unknown argument"):
            torch_ref.models.get(NAMES[0], not_an_argument=1)
