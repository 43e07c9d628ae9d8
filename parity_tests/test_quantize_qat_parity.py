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


@pytest.mark.parametrize("observer, float_layers, options", [
    ("minmax", (), {}), ("percentile", ("model.2",), {}),
    ("minmax", ("model.2",), dict(bits=8, lr_schedule="cosine")), ("minmax", (), dict(freeze_ranges_after=3))])
def test_jax_and_torch_qat_move_the_activation_ranges_alike(tmp_path, observer, float_layers, options):
    """options: 8-bit activations and cosine decay (the float layer's update, compared in median, shrinks by
    about 40 % with the schedule over these six steps, far beyond the tolerance); ranges frozen after three of
    the six steps. The teacher target: below."""
    torch.manual_seed(21)
    path = tmp_path / "dncnn.pth"
    torch.save(tmodels.get("dncnn", **DNCNN).state_dict(), path)
    rng = np.random.default_rng(22)
    clean = np.clip(np.linspace(0.1, 0.9, 16)[None, :, None, None] + 0.1 * rng.standard_normal((4, 16, 16, 1)), 0, 1)
    pairs = [((clean + 25 / 255 * rng.standard_normal(clean.shape)).astype(np.float32), clean.astype(np.float32))
             for _ in range(6)]
    calib = [x for x, _ in pairs[:2]]
    stack = quant_stack("dncnn", DNCNN).with_float_layers(float_layers).with_activation_bits(options.get("bits", 7))
    steps, lr = len(pairs), 1e-4
    extra = {k: v for k, v in options.items() if k != "bits"}

    def nchw(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
    _, want = tq.qat(torch_ref.load(path, model="dncnn", **DNCNN), stack,
                     [(nchw(x), nchw(t)) for x, t in pairs], steps=steps, lr=lr, observer=observer,
                     calib_batches=[nchw(x) for x in calib], **extra)
    got = jq.qat(jrestore.load(path, model="dncnn", **DNCNN), stack, DNCNN, calib, iter(pairs), steps=steps, lr=lr,
                 observer=observer, **extra)
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
    for x, _ in pairs[1:options.get("freeze_ranges_after", len(pairs))]:
        lo, hi = lo + 0.01 * (float(x.min()) - lo), hi + 0.01 * (float(x.max()) - hi)
    scale = activation_qparams(lo, hi, stack.act_qmax)[0]
    for tensors in (want, got):
        assert float(tensors["input.scale"][0]) == pytest.approx(scale, rel=tolerances.QAT_RANGE_FLOAT64_REL)


def test_the_teacher_target_is_the_float_models_output_in_both_frameworks(tmp_path):
    """--qat-target teacher: the first step's loss is the int8 model's own error against the float model
    (quantisation noise, ~1e-7 here), not its error against the clean data (~1e-2, the denoising error); the
    two frameworks' fake-quant differ by a level here and there, so their teacher losses are compared in
    order of magnitude only (and the weight updates, driven by that noise, not at all)."""
    torch.manual_seed(21)
    path = tmp_path / "dncnn.pth"
    torch.save(tmodels.get("dncnn", **DNCNN).state_dict(), path)
    rng = np.random.default_rng(23)
    clean = np.clip(0.5 + 0.1 * rng.standard_normal((2, 16, 16, 1)), 0, 1).astype(np.float32)
    noisy = (clean + 25 / 255 * rng.standard_normal(clean.shape)).astype(np.float32)
    stack = quant_stack("dncnn", DNCNN).with_activation_bits(8)
    x, t = (torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))) for a in (noisy, clean))
    losses = {}
    for target in ("data", "teacher"):
        seen = []
        tq.qat(torch_ref.load(path, model="dncnn", **DNCNN), stack, [(x, t)], steps=1, lr=1e-4, target=target,
               on_step=lambda step, loss: seen.append(loss))
        jq.qat(jrestore.load(path, model="dncnn", **DNCNN), stack, DNCNN, [], iter([(noisy, clean)]), steps=1,
               lr=1e-4, target=target, on_step=lambda step, loss: seen.append(loss))
        losses[target] = seen
    with torch.no_grad():
        float_error = float(torch.mean((torch_ref.load(path, model="dncnn", **DNCNN)(x) - t) ** 2))
    for fw, data_loss, teacher_loss in zip(("torch", "jax"), losses["data"], losses["teacher"]):
        assert data_loss == pytest.approx(float_error, rel=0.05), fw  # int8 output ~ float output
        assert 0 < teacher_loss < 1e-3 * data_loss, fw


def test_jax_and_torch_qat_keep_fsrcnn_prelu_split_pairs_tied_alike(tmp_path):
    """FSRCNN prelu_split (a PReLU checkpoint converted by rule), 8-bit, four QAT steps in each framework:
    both keep every (c, -c) pair tied (the file stores one half: fold_pairs refuses anything else), and
    their files' activation ranges agree as in the DnCNN twin above."""
    from jrestore.core.quantize import fold_pairs

    torch.manual_seed(23)
    prelu = dict(scale_factor=2, d=8, s=4, m=1)
    net = tmodels.get("fsrcnn", **prelu)
    with torch.no_grad():
        net.last_part.weight.mul_(30)  # outputs ~0.2, as a trained model's (yjn870's init gives ~1e-3)
    path = tmp_path / "fsrcnn.pth"
    torch.save(net.state_dict(), path)
    kwargs = {**prelu, "prelu_split": True}
    rng = np.random.default_rng(24)
    ramp = np.linspace(0.1, 0.9, 12)[None, :, None, None]
    pairs = [(np.clip(ramp + 0.1 * rng.standard_normal((2, 12, 12, 1)), 0, 1).astype(np.float32),
              np.zeros((2, 24, 24, 1), np.float32)) for _ in range(4)]  # the targets: the teacher's outputs
    stack = quant_stack("fsrcnn", kwargs).with_activation_bits(8)

    def nchw(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
    _, want = tq.qat(torch_ref.load(path, model="fsrcnn", **kwargs), stack, [(nchw(x), nchw(t)) for x, t in pairs],
                     steps=len(pairs), lr=1e-3, target="teacher")
    got = jq.qat(jrestore.load(path, model="fsrcnn", **kwargs), stack, kwargs, [], iter(pairs), steps=len(pairs),
                 lr=1e-3, target="teacher")
    assert sorted(got) == sorted(want)
    for tensors in (want, got):
        fold_pairs(stack, tensors)  # raises if a pair came untied
    moved = np.abs(want["mid_part.2.bias"] - torch_ref.load(path, model="fsrcnn", **kwargs).mid_part[2].bias
                   .detach().numpy()).max()
    assert moved > 0  # the steps changed the weights, so the tie was kept, not merely never broken
    for key in [k for k in want if k.endswith("scale") and "weight" not in k]:
        np.testing.assert_allclose(got[key], want[key], rtol=tolerances.QAT_RANGE_CROSS_FRAMEWORK_REL, err_msg=key)
