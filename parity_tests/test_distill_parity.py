"""Knowledge distillation (train/distill.py) across frameworks: JAX and PyTorch take the same distillation
steps, and the first loss is the documented formula evaluated in float64 NumPy. The teacher file, the config and
the batches are train/distill_test.py's (its single-framework tests stay beside the code)."""
from __future__ import annotations

import numpy as np

from jrestore.parity import tolerances
from train.distill_test import TEACHER_KWARGS, batches, distill_cfg, teacher_file  # noqa: F401 (a fixture)


def cwd_reference(student: np.ndarray, teacher: np.ndarray, t: float) -> float:
    """Shu et al. 2021 in float64 NumPy, NCHW: T^2 x mean over (n, c) of KL(softmax(t/T) || softmax(s/T)) over
    the pixels."""
    s = student.astype(np.float64).reshape(*student.shape[:2], -1) / t
    q = teacher.astype(np.float64).reshape(*teacher.shape[:2], -1) / t
    log_ps = s - s.max(-1, keepdims=True) - np.log(np.exp(s - s.max(-1, keepdims=True)).sum(-1, keepdims=True))
    log_pt = q - q.max(-1, keepdims=True) - np.log(np.exp(q - q.max(-1, keepdims=True)).sum(-1, keepdims=True))
    return t * t * float(np.mean(np.sum(np.exp(log_pt) * (log_pt - log_ps), -1)))


def test_distillation_steps_match_in_jax_and_torch_and_the_formula(teacher_file):
    """Three Adam steps of output (MSE) + feature (CWD, T = 2) distillation: the first loss equals the formula
    evaluated in float64 from the torch student and the EVAL-mode teacher; JAX's three losses and final
    weights equal the torch twin's within the training tolerances."""
    import jax
    import torch
    import torch_ref
    import torch_ref.models as tmodels
    from jrestore.convert import torch_state_dict
    from train.objective import Objective
    from train.state import create_train_state, initial_torch_state
    from train.step import guarded, make_train_step
    from train.torch_trainer import TorchTrainer

    cfg = distill_cfg(teacher_file)
    init = initial_torch_state(cfg)
    first = next(batches(1))
    # the reference: the formula on the torch student (init weights) and teacher (eval), in float64
    student = tmodels.get("dncnn", **dict(cfg.model.kwargs))
    student.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in init.items()})
    teacher = torch_ref.load(teacher_file, "dncnn", **TEACHER_KWARGS)
    feats = {}
    student.model[3].register_forward_hook(lambda m, a, o: feats.__setitem__("s", o.detach().numpy()))
    teacher.model[7].register_forward_hook(lambda m, a, o: feats.__setitem__("t", o.detach().numpy()))
    x = torch.from_numpy(first["input"].transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        s_out, t_out = student.train()(x).numpy().astype(np.float64), teacher(x).numpy().astype(np.float64)
    target = first["target"].transpose(0, 3, 1, 2).astype(np.float64)
    want = (np.mean((s_out - target) ** 2) + 0.5 * np.mean((s_out - t_out) ** 2)
            + 1.0 * cwd_reference(feats["s"], feats["t"], 2.0))
    assert cwd_reference(feats["s"], feats["t"], 2.0) > 0.05 * want  # the feature term counts

    setup = create_train_state(cfg, init)
    step = jax.jit(guarded(make_train_step(Objective(cfg), setup)))
    twin = TorchTrainer(cfg, init)
    state = setup.state
    for i, batch in enumerate(batches(3)):
        state, metrics = step(state, batch, setup.frozen())
        assert bool(metrics["finite"])
        torch_loss = twin.step(batch)["loss"]
        np.testing.assert_allclose(float(metrics["loss"]), torch_loss, rtol=tolerances.TRAIN_LOSS, err_msg=str(i))
        if i == 0:
            np.testing.assert_allclose(float(metrics["loss"]), want, rtol=tolerances.TRAIN_LOSS)
    got = torch_state_dict(setup.generator.merge(jax.device_get(state["params"]), jax.device_get(state["rest"])))
    want_w = twin.state_dict()
    assert sorted(got) == sorted(want_w)
    for key in want_w:
        np.testing.assert_allclose(got[key], want_w[key], rtol=0, atol=tolerances.TRAIN_WEIGHTS, err_msg=key)
