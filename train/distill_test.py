"""Knowledge distillation (train/distill.py): the teacher stays frozen and outside the optimiser, config mistakes
are one error each, and the dncnn_distill_s25 recipe runs. That JAX and PyTorch take the same steps, and that the
loss is the documented formula, is parity_tests/test_distill_parity.py (it uses this file's teacher and config)."""
from __future__ import annotations

import numpy as np
import pytest

from train.config import load_config

# student: DnCNN 8 channels, 3 convs, no BN (model.3 is its body ReLU); teacher: 4 convs with BN (model.7 is its
# second body ReLU), whose running statistics are far from a batch's, so a teacher run in train mode would show
STUDENT = ["model.kwargs.nc=8", "model.kwargs.nb=3", "model.kwargs.act_mode='R'", "val.source=''", "optim.lr=1e-3",
           "schedule.name='constant'"]
TEACHER_KWARGS = {"nc": 8, "nb": 4, "act_mode": "BR"}


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    """A trained-looking DnCNN teacher: torch_ref's seeded init with every BatchNorm buffer and affine moved
    off its default, saved as a plain state-dict .pth (the model's name and kwargs come from the config)."""
    import torch
    import torch_ref.models as tmodels

    torch.manual_seed(7)
    teacher = tmodels.get("dncnn", **TEACHER_KWARGS)
    g = torch.Generator().manual_seed(8)
    with torch.no_grad():
        for name, buf in teacher.state_dict().items():
            if name.endswith("running_mean"):
                buf.copy_(0.2 * torch.randn(buf.shape, generator=g))
            elif name.endswith("running_var") or name.endswith(".weight") and buf.ndim == 1:
                buf.copy_(0.5 + torch.rand(buf.shape, generator=g))
    path = tmp_path_factory.mktemp("teacher") / "teacher.pth"
    torch.save(teacher.state_dict(), path)
    return path


def distill_cfg(teacher_file, *more):
    return load_config("dncnn_distill_s25:runlocal", STUDENT + [
        "distill.teacher.name='dncnn'", f"distill.teacher.weights='{teacher_file}'",
        f"distill.teacher.kwargs={TEACHER_KWARGS}", "distill.taps=('model.3=model.7',)", "distill.alpha=1.0",
        "distill.beta=0.5", "distill.feature_weight=1.0", "distill.feature_loss='cwd'", "distill.temperature=2.0",
        *more])


def batches(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        clean = rng.random((4, 16, 16, 1), dtype=np.float32)
        yield {"input": clean + rng.normal(0, 25 / 255, clean.shape).astype(np.float32), "target": clean}


def test_the_teacher_is_frozen_and_outside_the_optimiser(teacher_file, tmp_path):
    """After two steps of each trainer the teacher's weights and BatchNorm statistics equal the file's; the
    trained params and the optimiser state hold the student's leaves only; the loss has no gradient with
    respect to the teacher."""
    import jax
    import torch
    from flax import nnx
    from jrestore.convert import torch_state_dict
    from jrestore.convert.checkpoints import load_state_dict_file
    from train.torch_trainer import TorchTrainer
    from train.trainer import Trainer, initial_torch_state

    cfg = distill_cfg(teacher_file)
    saved = load_state_dict_file(teacher_file)
    init = initial_torch_state(cfg)
    jt, tt = Trainer(cfg, tmp_path, initial_state=init, progress=False), TorchTrainer(cfg, init)
    for batch in batches(2):
        jt.state, _ = jt.train_step(jt.state, jt.device_batch(batch))
        tt.step(batch)
    # JAX: the teacher is a step argument only; the state's params / optimiser leaves are the student's
    teacher_now = torch_state_dict(nnx.merge(jt.setup.teacher_def, jax.device_get(jt.frozen["teacher"])))
    student_keys = set(init)
    assert not student_keys & {k for k in saved if k not in init}
    for key, value in saved.items():
        np.testing.assert_array_equal(teacher_now[key], np.asarray(value), err_msg=key)
    n_params = len(jax.tree.leaves(jt.state["params"]))
    assert n_params == len([k for k in init if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))])
    param_shapes = sorted(a.shape for a in jax.tree.leaves(jt.state["params"]))
    adam_shapes = sorted(a.shape for a in jax.tree.leaves(jt.state["opt_state"]) if np.ndim(a) > 0)
    assert adam_shapes == sorted(param_shapes * 2)  # mu and nu of each student parameter, nothing else
    # torch: requires_grad off, no teacher tensor in the optimiser, values unchanged (eval-mode BN)
    opt_ids = {id(p) for group in tt.opt.param_groups for p in group["params"]}
    assert not tt.teacher.training
    assert all(not p.requires_grad and id(p) not in opt_ids for p in tt.teacher.parameters())
    for key, value in tt.teacher.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), np.asarray(saved[key]), err_msg=key)
    # no gradient reaches the teacher even if it were a traced argument
    objective, gen = jt.objective, jt.setup.generator
    batch = {k: jax.numpy.asarray(v) for k, v in next(batches(1, seed=3)).items()}
    grads = jax.grad(lambda ts: objective.jax_loss(gen, jt.state["params"], jt.state["rest"], batch, None,
                                                   lambda: nnx.merge(jt.setup.teacher_def, ts))[0],
                     allow_int=True)(jt.frozen["teacher"])
    float_grads = [g for g in jax.tree.leaves(grads) if np.issubdtype(g.dtype, np.inexact)]
    assert len(float_grads) == len([k for k in saved if not k.endswith("num_batches_tracked")])
    assert all(float(abs(g).max()) == 0.0 for g in float_grads)
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("override, message", [
    (["distill.teacher.name=''"], r"distill.teacher.name: expected a registered restorer, one of \[.*'dncnn'.*got ''"),
    (["distill.teacher.name='fsrcnn'"], r"distill.teacher.name: the teacher must do the student's task \('denoise'\)"),
    (["distill.teacher.weights=''"], r"distill.teacher.weights: the teacher must be trained: expected a weights file"),
    (["distill.feature_loss='mse'"], r"distill.temperature: only the 'cwd' criterion uses a temperature"),
    (["distill.output_loss='kl'"], r"distill.output_loss: expected one of \['mse', 'l1', 'cwd'\], got 'kl'"),
    (["distill.beta=-1.0"], r"distill.beta: expected a number >= 0, got -1.0"),
    (["distill.taps=()"], r"distill.taps: distill.feature_weight is 1, so feature distillation needs taps"),
    (["distill.taps=('model.3==x',)"], r"distill.taps\[0\]: expected 'student_path' or 'student_path=teacher_path'"),
    (["distill.beta=0.0", "distill.feature_weight=0.0", "distill.alpha=0.0"], r"distill.alpha: .* expected alpha > 0"),
])
def test_config_mistakes_are_one_error_each(teacher_file, override, message):
    with pytest.raises(ValueError, match=message):
        distill_cfg(teacher_file, *override)


@pytest.mark.parametrize("override, message", [
    (["distill.teacher.weights='/no/such/teacher.pth'"],
     r"distill.teacher.weights: expected a weights file or training workdir, got '/no/such/teacher.pth' \(no such"),
    (["distill.teacher.name='ffdnet'"], r"distill.teacher.weights: .*teacher.pth is not a 'ffdnet' teacher"),
    (["distill.teacher.kwargs.nc=16"], r"distill.teacher.weights: .*teacher.pth is not a 'dncnn' teacher"),
    (["distill.taps=('model.3=model.8',)"],
     r"distill.taps: 'model.3' \(student\) and 'model.8' \(teacher\): the student's \[4, 16, 16, 8\] and the "
     r"teacher's \[4, 16, 16, 1\] differ"),
    (["distill.taps=('model.3=body.2',)"], r"distill.taps: the teacher \(DnCNN\) has no submodule 'body'"),
])
def test_a_missing_or_mismatched_teacher_is_one_error(teacher_file, override, message):
    """Found when the teacher is loaded or first traced, the same in both frameworks (the JAX step is only
    traced, with jax.eval_shape: nothing is compiled)."""
    import jax
    from train.objective import Objective
    from train.state import create_train_state
    from train.step import make_train_step
    from train.torch_trainer import TorchTrainer

    cfg = distill_cfg(teacher_file, *override)
    batch = next(batches(1))
    with pytest.raises(ValueError, match=message):
        setup = create_train_state(cfg)
        jax.eval_shape(make_train_step(Objective(cfg), setup), setup.state, batch, setup.frozen())
    torch_message = message.replace(r"\[4, 16, 16, 8\]", r"\[4, 8, 16, 16\]").replace(r"\[4, 16, 16, 1\]",
                                                                                     r"\[4, 1, 16, 16\]")
    with pytest.raises(ValueError, match=torch_message):
        TorchTrainer(cfg, None).step(batch)


def test_dncnn_distill_s25_runlocal_trains_from_the_official_teacher(shared_data, tmp_path):
    """The recipe's smoke run: the official DnCNN-S sigma 25 teacher (an alias under the reference data), 6
    steps on Train400 patches, Set12 validation; the run's model file loads as the 3-layer student."""
    import json
    import jrestore
    from train.trainer import Trainer

    cfg = load_config("dncnn_distill_s25:runlocal")
    assert cfg.distill.teacher.weights == "dncnn_25" and cfg.distill.temperature == 3.0
    last = Trainer(cfg, tmp_path, progress=False).run()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 3 and all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0], losses
    assert np.isfinite(last["val_psnr"]) and last["val_psnr"] > 5
    model = jrestore.load(tmp_path)
    assert len(model.model) == 6  # conv, ReLU, conv, BN, ReLU, conv: the student, not the 17-layer teacher
    assert json.loads((tmp_path / "config.json").read_text())["distill"]["taps"] == ["model.4=model.31"]
