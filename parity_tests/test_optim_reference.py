"""The PyTorch optimiser and scheduler that train.optim.make_torch builds, against the float64 NumPy Adam /
AdamW / schedule references of train/optim_test.py (written from the papers and PyTorch's documentation,
with the documented defaults as literals), not against the optax twin: a misreading shared by both twins
(e.g. betas swapped in train/optim.py) fails here. Driven as train/torch_trainer.py drives it: gradients
set, clip_grad_norm_ when configured, opt.step(), then sched.step().
"""
import inspect

import numpy as np
import pytest
import torch

from jrestore.parity.tolerances import FLOAT64, FLOAT64_FEW_ROUNDINGS, OPTIMIZER_FLOAT64
from train.optim import make_torch
from train.optim_test import (ADAM_BETAS, ADAM_EPS, LR, SCENARIOS, STEPS, assert_close_to_reference, flatten,
                              problem, reference_lrs, scenario_config, scenario_reference)


@pytest.mark.parametrize("scenario,overrides,total_steps", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_torch_optimizer_follows_float64_reference(scenario, overrides, total_steps):
    cfg = scenario_config(overrides)
    params, grads = problem()
    flat0 = flatten(params)
    tensors = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in flat0.items()}
    opt, sched, clip = make_torch(cfg, list(tensors.values()), total_steps)
    lrs = []
    for g in grads:
        lrs.append(opt.param_groups[0]["lr"])
        for k, gk in flatten(g).items():
            tensors[k].grad = torch.from_numpy(gk.copy())
        if clip:
            torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip)
        opt.step()
        sched.step()
    np.testing.assert_allclose(lrs, reference_lrs(LR, cfg.schedule.to_dict(), total_steps, STEPS), rtol=FLOAT64,
                               atol=FLOAT64_FEW_ROUNDINGS, err_msg=f"{scenario}: torch schedule (float64 in both)")
    got = {k: t.detach().numpy() for k, t in tensors.items()}
    want = scenario_reference(cfg, params, grads, total_steps)
    assert_close_to_reference(got, want, scenario)
    assert max(np.abs(want[k] - flat0[k]).max() for k in flat0) > 100 * OPTIMIZER_FLOAT64  # they did move


def test_literal_adam_defaults_are_torchs_documented_defaults():
    # the literals the references use are PyTorch's own defaults (a third-party check of the literals)
    for cls in (torch.optim.Adam, torch.optim.AdamW):
        sig = inspect.signature(cls.__init__).parameters
        assert tuple(sig["betas"].default) == ADAM_BETAS and sig["eps"].default == ADAM_EPS, cls
