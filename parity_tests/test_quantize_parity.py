"""INT8 across the two frameworks: JAX (AQT) calibration against PyTorch's observers, and JAX-int8 against
torch-int8 (fbgemm) running the same int8 file. (The int8 file, the CLI and each framework's own PTQ / QAT are
tested in tests/test_quantize.py.)

The independent references: PyTorch's own observers for the calibrated parameters (the JAX calibration must
give the same ones) and PyTorch's converted module for the int8 arithmetic (the JAX model must match it to the
named number of levels).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jrestore
import torch_ref
import torch_ref.models as tmodels
import torch_ref.quantize as tq
from jrestore import quantize as jq
from jrestore.core.quantize import quant_stack
from jrestore.parity import tolerances

DNCNN = dict(nc=8, nb=4, act_mode="R")
FSRCNN = dict(scale_factor=2, d=8, s=4, m=1)


def _weights(tmp_path, name, kwargs, seed=0):
    torch.manual_seed(seed)
    net = tmodels.get(name, **kwargs)
    path = tmp_path / f"{name}.pth"
    torch.save(net.state_dict(), path)
    return path


def _images(seed, n=3, size=24, channels=1):
    """Smooth ramps plus texture, as [B, H, W, C] float32 in [0, 1] (natural-image-like ranges)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.1, 0.9, size)[None, :, None] * np.linspace(0.6, 1.0, size)[:, None, None]
    return np.stack([np.clip(ramp + 0.05 * rng.standard_normal((size, size, channels)), 0, 1)
                     for _ in range(n)]).astype(np.float32)


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@pytest.fixture(scope="module")
def dncnn_ptq(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("q")
    weights = _weights(tmp, "dncnn", DNCNN)
    net = torch_ref.load(weights, model="dncnn", **DNCNN)
    stack = quant_stack("dncnn", DNCNN)
    clean = _images(0)
    noisy = clean + 25 / 255 * np.random.default_rng(1).standard_normal(clean.shape).astype(np.float32)
    qnet, tensors = tq.ptq(net, stack, [_nchw(noisy)])
    return tmp, weights, net, stack, noisy, qnet, tensors


def test_jax_calibration_gives_torch_observer_parameters(dncnn_ptq):
    _, weights, _, stack, noisy, _, tensors = dncnn_ptq
    jm = jrestore.load(weights, model="dncnn", **DNCNN)
    mine = jq.ptq(jm, stack, [noisy])
    for key in tensors:
        if key.endswith("zero_point"):
            assert np.array_equal(mine[key], tensors[key]), key
        elif key.endswith("scale") or key.endswith("bias"):
            np.testing.assert_allclose(mine[key], tensors[key], rtol=tolerances.FLOAT32_ROUNDING * 10, err_msg=key)
        else:  # int8 weights: equal, except that AQT clips to +-127 where torch's range reaches -128 (w = -max|w|)
            differ = mine[key] != tensors[key]
            assert np.all(tensors[key][differ] == -128) and np.all(mine[key][differ] == -127), key


@pytest.mark.parametrize("name, kwargs", [("dncnn", DNCNN), ("fsrcnn", FSRCNN)])
def test_jax_int8_matches_torch_int8_on_the_same_file(tmp_path, name, kwargs):
    net = torch_ref.load(_weights(tmp_path, name, kwargs, seed=3), model=name, **kwargs)
    if name == "fsrcnn":  # yjn870's N(0, 0.001) deconvolution init gives outputs ~1e-3, as no trained model does:
        with torch.no_grad():  # bring them to ~0.2, so the output's level is not far below the upstream ones
            net.last_part.weight.mul_(30)
    stack = quant_stack(name, kwargs)
    x = _images(4, n=2, size=20)
    qnet, tensors = tq.ptq(net, stack, [_nchw(x)])
    with torch.no_grad():
        want, float_out = qnet(_nchw(x)).numpy(), net(_nchw(x)).numpy()
    got = np.asarray(jq.int8_forward(stack, tensors, kwargs)(jnp.asarray(x))).transpose(0, 3, 1, 2)
    level = float(tensors[f"{stack.quantised[-1].prefix}.output_scale"][0])
    assert np.abs(got - want).max() <= tolerances.INT8_CROSS_FRAMEWORK_LEVELS * level * (1 + 1e-5)
    assert np.mean(np.abs(got - want) > level / 2) <= tolerances.INT8_CROSS_FRAMEWORK_SHARE
    # and both are an int8 model, not the float one: close to float, but not equal to it
    assert 0 < np.abs(want - float_out).max() < 0.1 * np.abs(float_out).max()
