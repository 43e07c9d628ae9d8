"""JAX QAT (AQT) against PyTorch QAT (torch.ao prepare_qat_fx) from the same float weights on the same batches:
the activation ranges each writes to its int8 file after N steps agree, as (scale, zero point) per
quantisation point. Observer minmax: FakeQuantize with MovingAverageMinMaxObserver (moving ranges); observer
percentile with a float layer: ranges calibrated on the calibration batches, then frozen, and the float
layer trained in float (qconfig None)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import jrestore
import torch_ref
import torch_ref.models as tmodels
import torch_ref.quantize as tq
from jrestore import quantize as jq
from jrestore.core.quantize import activation_qparams, quant_stack
from jrestore.parity import tolerances

DNCNN = dict(nc=8, nb=4, act_mode="R")


@pytest.mark.parametrize("observer, float_layers", [("minmax", ()), ("percentile", ("model.2",))])
def test_jax_and_torch_qat_move_the_activation_ranges_alike(tmp_path, observer, float_layers):
    torch.manual_seed(21)
    path = tmp_path / "dncnn.pth"
    torch.save(tmodels.get("dncnn", **DNCNN).state_dict(), path)
    rng = np.random.default_rng(22)
    clean = np.clip(np.linspace(0.1, 0.9, 16)[None, :, None, None] + 0.1 * rng.standard_normal((4, 16, 16, 1)), 0, 1)
    pairs = [((clean + 25 / 255 * rng.standard_normal(clean.shape)).astype(np.float32), clean.astype(np.float32))
             for _ in range(6)]
    calib = [x for x, _ in pairs[:2]]
    stack = quant_stack("dncnn", DNCNN).with_float_layers(float_layers)
    steps, lr = len(pairs), 1e-4

    def nchw(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
    _, want = tq.qat(torch_ref.load(path, model="dncnn", **DNCNN), stack,
                     [(nchw(x), nchw(t)) for x, t in pairs], steps=steps, lr=lr, observer=observer,
                     calib_batches=[nchw(x) for x in calib])
    got = jq.qat(jrestore.load(path, model="dncnn", **DNCNN), stack, DNCNN, calib, iter(pairs), steps=steps, lr=lr,
                 observer=observer)
    assert sorted(got) == sorted(want)  # the same points quantised, the float layer float in both
    start = torch.load(path)
    for name in float_layers:  # trained in float in both (Adam: compare medians, see the tolerance)
        assert got[f"{name}.weight"].dtype == want[f"{name}.weight"].dtype == np.float32
        moved = np.median(np.abs(want[f"{name}.weight"] - start[f"{name}.weight"].numpy()))
        apart = np.median(np.abs(got[f"{name}.weight"] - want[f"{name}.weight"]))
        assert moved > 0 and apart <= tolerances.QAT_FLOAT_LAYER_UPDATE_MEDIAN_REL * moved, (apart, moved)
    for key in [k for k in want if k.endswith("scale") and "weight" not in k]:
        zero_point_key = key.replace("scale", "zero_point")
        np.testing.assert_allclose(got[key], want[key], rtol=tolerances.QAT_RANGE_CROSS_FRAMEWORK_REL, err_msg=key)
        assert abs(int(got[zero_point_key][0]) - int(want[zero_point_key][0])) <= 1, zero_point_key
    if observer != "minmax":
        return
    # the stack input's observations are the raw batches': both files hold their float64 moving average
    lo, hi = float(pairs[0][0].min()), float(pairs[0][0].max())
    for x, _ in pairs[1:]:
        lo, hi = lo + 0.01 * (float(x.min()) - lo), hi + 0.01 * (float(x.max()) - hi)
    scale = activation_qparams(lo, hi)[0]
    for tensors in (want, got):
        assert float(tensors["input.scale"][0]) == pytest.approx(scale, rel=tolerances.QAT_RANGE_FLOAT64_REL)
