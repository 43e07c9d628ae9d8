"""`jrestore.parity.compare` on any torch module and its NNX twin: registry models, a `key_map`, a broken twin.

The plugin example's case lives in test_plugin_parity.py. Each check below asserts what compare measured
(which leaves it compared, where it says the first divergence is) besides its verdict, so a compare that
compared nothing, or always said ok, fails here.
"""
import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import jrestore.models
import jrestore.parity
import torch_ref.models
from jrestore.convert import ConversionError, load_torch_state_dict
from jrestore.layers import BatchNorm2d, Conv2d
from jrestore.parity import tolerances
from jrestore.parity.harness import perturb_, torch_input
from jrestore.parity.model_parity import compare


def _noisy(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, shape) + rng.normal(0, 0.1, shape)).astype(np.float32)


def _torch_state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_compare_is_the_package_attribute():
    assert jrestore.parity.compare is compare


def test_compare_dncnn_train_mode_bn_statistics_gradients_and_layers():
    tm = torch_ref.models.get("dncnn", nc=8, nb=4)
    jm = jrestore.models.get("dncnn", nc=8, nb=4)
    before = _torch_state(tm)
    x = _noisy((2, 13, 11, 1))
    report = compare(tm, jm, x, train=True, seed=3)
    assert report["ok"] and report["perturbed"], report
    # every check ran, over every parameter and every BatchNorm buffer
    params = [k for k, _ in tm.named_parameters()]
    assert sorted(report["grad"]["leaves"]) == sorted([f"grad.{k}" for k in params] + ["loss"])
    assert {f"state.{k}" for k in tm.state_dict()} <= set(report["train"]["leaves"])
    assert report["eval"]["max_rel"] <= tolerances.MODEL and report["train"]["max_rel"] <= tolerances.MODEL
    assert report["first_divergence"] is None
    assert [r["layer"] for r in report["layers"]][:2] == ["model.0", "model.1"]
    assert all(r["max_abs"] <= tolerances.MODEL * max(1.0, r["scale"]) for r in report["layers"])
    # neither argument is changed: compare perturbs and converts copies
    assert all(torch.equal(before[k], v) for k, v in tm.state_dict().items())
    assert tm.training  # a fresh torch module's mode, untouched


def test_compare_espcn_perturbs_away_from_init_unless_told_not_to():
    """Perturbed and default inits both agree across frameworks; the perturbed outputs are the torch module
    after harness.perturb_, not its default init (so a perturbed run really moved the weights)."""
    torch.manual_seed(0)
    tm = torch_ref.models.get("espcn", scale_factor=2, num_channels=3)
    jm = jrestore.models.get("espcn", scale_factor=2, num_channels=3)
    x = _noisy((1, 9, 7, 3), seed=1)
    perturbed = compare(tm, jm, x, seed=5, layers=False)
    plain = compare(tm, jm, x, perturb=False, grads=False, layers=False)
    assert perturbed["ok"] and perturbed["perturbed"] and "adam" in perturbed and "train" not in perturbed
    assert plain["ok"] and not plain["perturbed"] and "grad" not in plain
    # the eval outputs compare reports on: torch's own, with and without perturb_(seed=5)
    with torch.no_grad():
        y_default = tm.eval()(torch_input(x))
        y_perturbed = perturb_(copy.deepcopy(tm), 5).eval()(torch_input(x))
    assert float((y_default - y_perturbed).abs().max()) > 100 * tolerances.MODEL
    # the same float32 torch computation on the same copy of the weights: the same bits
    assert perturbed["eval"]["leaves"]["eval"]["scale"] == float(y_perturbed.abs().max())
    assert plain["eval"]["leaves"]["eval"]["scale"] == float(y_default.abs().max())


# ---- a pair that does not follow the naming rule, and a broken twin ----

class TorchNet(torch.nn.Module):
    """conv -> BN -> ReLU -> conv -> ReLU -> conv, residual; torch's names: head, norm, body, tail."""

    def __init__(self, nc=6):
        super().__init__()
        self.head = torch.nn.Conv2d(1, nc, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(nc)
        self.body = torch.nn.Conv2d(nc, nc, 3, padding=1)
        self.tail = torch.nn.Conv2d(nc, 1, 3, padding=1)

    def forward(self, x):
        h = torch.relu(self.norm(self.head(x)))
        return x - self.tail(torch.relu(self.body(h)))


class JaxNet(nnx.Module):
    """TorchNet in NNX under other names: conv_first, bn, conv_body, conv_last."""

    def __init__(self, nc=6, *, rngs):
        self.conv_first = Conv2d(1, nc, 3, padding=1, rngs=rngs)
        self.bn = BatchNorm2d(nc, rngs=rngs)
        self.conv_body = Conv2d(nc, nc, 3, padding=1, rngs=rngs)
        self.conv_last = Conv2d(nc, 1, 3, padding=1, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.bn(self.conv_first(x)))
        return x - self.conv_last(self.body_activation(self.conv_body(h)))

    def body_activation(self, h):
        return jax.nn.relu(h)


class BrokenJaxNet(JaxNet):
    """The bug: a leaky ReLU after conv_body, where TorchNet has a plain one; conv_first and bn still agree."""

    def body_activation(self, h):
        return jax.nn.leaky_relu(h, 0.2)


RENAMES = {"head": "conv_first", "norm": "bn", "body": "conv_body", "tail": "conv_last"}


def _key_map_dict(tm):
    return {k: RENAMES[k.split(".")[0]] + k[k.index("."):] for k in tm.state_dict()}


def _key_map_callable(key):
    module, leaf = key.split(".", 1)
    return f"{RENAMES[module]}.{leaf}"


@pytest.mark.parametrize("as_callable", [False, True], ids=["dict", "callable"])
def test_compare_with_a_key_map(as_callable):
    torch.manual_seed(1)  # a fixed torch init, whatever ran before in this process
    tm, jm = TorchNet(), JaxNet(rngs=nnx.Rngs(0))
    key_map = _key_map_callable if as_callable else _key_map_dict(tm)
    report = compare(tm, jm, _noisy((2, 9, 10, 1), seed=2), train=True, key_map=key_map)
    assert report["ok"], report
    # reports name the torch keys; the layer trace found every torch layer under its NNX name
    assert "grad.head.weight" in report["grad"]["leaves"] and "state.norm.running_var" in report["train"]["leaves"]
    assert [r["layer"] for r in report["layers"]] == ["head", "norm", "body", "tail"]


def test_compare_without_the_key_map_names_the_missing_keys():
    with pytest.raises(ConversionError, match=r"does not fit JaxNet: missing 11 key\(s\), first 'bn.bias'.*unexpected 11 key\(s\), first 'head.weight'"):
        compare(TorchNet(), JaxNet(rngs=nnx.Rngs(0)), _noisy((1, 8, 8, 1)))


def test_key_map_typos_and_bad_arguments_are_value_errors():
    x = _noisy((1, 8, 8, 1))
    with pytest.raises(ValueError, match=r"key_map: expected keys of the torch module's state_dict, got \['haed.weight'\]"):
        compare(TorchNet(), JaxNet(rngs=nnx.Rngs(0)), x, key_map={"haed.weight": "conv_first.weight"})
    with pytest.raises(ValueError, match="key_map: expected a callable returning a str"):
        compare(TorchNet(), JaxNet(rngs=nnx.Rngs(0)), x, key_map=lambda k: None)
    with pytest.raises(ValueError, match="jax_module: expected a flax.nnx.Module, got TorchNet"):
        compare(TorchNet(), TorchNet(), x)
    with pytest.raises(ValueError, match="inputs: expected at least one NHWC array"):
        compare(TorchNet(), JaxNet(rngs=nnx.Rngs(0)))


def test_a_broken_twin_fails_and_names_the_first_diverging_layer():
    torch.manual_seed(2)  # the init perturb_ starts from: independent of what ran before in this process
    tm, jm = TorchNet(), BrokenJaxNet(rngs=nnx.Rngs(0))
    report = compare(tm, jm, _noisy((2, 9, 10, 1), seed=4), train=True, key_map=_key_map_callable)
    assert report["ok"] is False
    assert report["eval"]["ok"] is False and report["eval"]["first_bad"] == "eval"
    assert report["grad"]["ok"] is False
    assert report["first_divergence"] == "tail"  # the layer after the wrong activation
    rows = {r["layer"]: r for r in report["layers"]}
    # the layers before it agree to float32 rounding, the diverging one by far more than the tolerance (the
    # leaky slope's effect grows with the weights: 1.2e-2 .. 3.4e-2 over torch seeds 0-5, 2.5e-2 at seed 2)
    assert all(rows[name]["max_abs"] <= tolerances.LAYER for name in ("head", "norm", "body"))
    assert rows["tail"]["max_abs"] > 10 * tolerances.MODEL * max(1.0, rows["tail"]["scale"])
    # what compare says is |jax - torch| is: the NNX twin's output recomputed here, against torch's
    jm_check = nnx.clone(jm)
    tm_check = perturb_(copy.deepcopy(tm), 0).eval()
    load_torch_state_dict(jm_check, {_key_map_callable(k): v for k, v in tm_check.state_dict().items()})
    x = _noisy((2, 9, 10, 1), seed=4)
    jm_check.eval()
    with torch.no_grad():
        t_out = tm_check(torch_input(x)).numpy().transpose(0, 2, 3, 1)
    diff = float(np.abs(np.asarray(jm_check(jnp.asarray(x)), np.float64) - t_out).max())
    assert report["eval"]["max_abs"] == diff  # the same eager computations in the same process: the same bits
