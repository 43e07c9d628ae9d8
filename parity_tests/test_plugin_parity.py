"""The README's plugin example (examples/tiny_plugin.py) against its PyTorch twin, through
`jrestore.parity.compare` and as a registered model (its spec's ParityCase), like a built-in one."""
from pathlib import Path

import numpy as np
import pytest
import torch

from jrestore.core.plugins import load_plugin
from jrestore.parity import tolerances
from jrestore.parity.model_parity import compare, compare_model

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tiny_plugin.py"


@pytest.fixture
def tiny(plugin_sandbox):
    assert load_plugin(EXAMPLE) == ("tiny_denoiser",)
    import jrestore.models
    import torch_ref.models
    from jrestore.parity.cases import get_case

    return jrestore.models, torch_ref.models, get_case("tiny_denoiser")


def test_compare_the_plugin_classes(tiny):
    jax_models, torch_models, case = tiny
    torch.manual_seed(0)  # a fixed torch init, whatever ran before in this process
    inputs = case.inputs(np.random.default_rng(0), False)
    report = compare(torch_models.get("tiny_denoiser", nc=8, in_nc=1), jax_models.get("tiny_denoiser", nc=8, in_nc=1),
                     *inputs, train=True, seed=2)
    assert report["ok"] and report["perturbed"], report
    assert sorted(report["grad"]["leaves"]) == ["grad.conv1.bias", "grad.conv1.weight", "grad.conv2.bias",
                                                "grad.conv2.weight", "loss"]
    assert [r["layer"] for r in report["layers"]] == ["conv1", "conv2"] and report["first_divergence"] is None
    assert report["eval"]["max_rel"] <= tolerances.MODEL and report["adam"]["max_abs"] <= tolerances.OPTIMIZER_STEP


def test_the_plugin_runs_its_parity_case_like_a_built_in(tiny):
    _, _, case = tiny
    for full in (False, True):
        kwargs = case.full if full else case.small
        result = compare_model("tiny_denoiser", kwargs, case.inputs(np.random.default_rng(1), full), seed=3,
                               train_mode=case.train_mode, grad=case.grad, atol=case.atol)
        assert result["ok"] and "train" not in result, result  # the case says: no train mode (no BatchNorm)


def test_a_colour_plugin_model(tiny):
    """in_nc=3 (the spec's channels_arg): three channels through both convs and the residual."""
    jax_models, torch_models, _ = tiny
    x = np.random.default_rng(4).uniform(0, 1, (1, 11, 13, 3)).astype(np.float32)
    torch.manual_seed(0)
    report = compare(torch_models.get("tiny_denoiser", in_nc=3, nc=4), jax_models.get("tiny_denoiser", in_nc=3, nc=4),
                     x, grads=False)
    assert report["ok"] and report["eval"]["leaves"]["eval"]["shape"] == (1, 11, 13, 3)
