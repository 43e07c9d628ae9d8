"""The JAX trainer against its PyTorch twin: same initial weights and batches -> same losses and weights;
optimisers and schedules with PyTorch's semantics; config errors."""
from __future__ import annotations

import numpy as np
import pytest

from jrestore.parity.tolerances import (BFLOAT16_LOSS, FLOAT32_ABS_FLOOR, FLOAT64, FLOAT64_FEW_ROUNDINGS, OP,
                                        OPTIMIZER_STEPS, PSNR_TRAINED_DB, SCHEDULE_FLOAT32, SCHEDULE_FLOAT32_FLOOR,
                                        TRAIN_LOSS, TRAIN_WEIGHTS)
from train.config import load_config
from train.optim import lr_at, make_optax, make_torch
from train.torch_trainer import TorchTrainer
from train.trainer import Trainer, initial_torch_state

STEPS = 20


def _batches(n: int, shape=(16, 24, 20, 1), seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        clean = rng.random(shape, dtype=np.float32)
        yield {"input": clean + rng.normal(0, 25 / 255, shape).astype(np.float32), "target": clean}


def _pair(tmp_path, act_mode: str):
    cfg = load_config("dncnn_s25:runlocal", ["model.kwargs.nc=8", "model.kwargs.nb=4", f"model.kwargs.act_mode={act_mode!r}",
                                             f"train.steps={STEPS}", "val.source=''"])
    init = initial_torch_state(cfg)
    return cfg, Trainer(cfg, tmp_path, initial_state=init, progress=False), TorchTrainer(cfg, init)


@pytest.mark.parametrize("act_mode", ["R", "BR"])
def test_twenty_adam_steps_match_torch(tmp_path, act_mode):
    cfg, jt, tt = _pair(tmp_path, act_mode)
    j_loss, t_loss = [], []
    for batch in _batches(STEPS):
        jt.state, metrics = jt.train_step(jt.state, jt.device_batch(batch))
        j_loss.append(float(metrics["loss"]))
        t_loss.append(tt.step(batch)["loss"])
    np.testing.assert_allclose(j_loss, t_loss, rtol=TRAIN_LOSS)
    assert t_loss[-1] < t_loss[0]  # it trained
    jp, tp = jt.params_torch_layout(), tt.state_dict()
    assert jp.keys() == tp.keys()
    # Biases of convolutions that feed BatchNorm have a gradient of exactly zero in real arithmetic (BN
    # subtracts the batch mean), so their gradients are float32 noise that Adam normalises into lr-sized
    # steps of random sign in either framework; those biases and the running means they shift are gauge
    # freedoms. They are checked through the train-mode loss on a fresh batch, where they cancel.
    gauge = {k for k in tp if act_mode == "BR" and (k.endswith("running_mean") or _feeds_bn(k, tp))}
    for key in tp:
        if key not in gauge:
            np.testing.assert_allclose(jp[key], tp[key], rtol=0, atol=TRAIN_WEIGHTS, err_msg=key)
    if gauge:
        assert gauge == {"model.2.bias", "model.3.running_mean", "model.5.bias", "model.6.running_mean"}
        fresh = next(_batches(1, seed=99))
        j_fresh = float(jt.train_step(jt.state, jt.device_batch(fresh))[1]["loss"])
        np.testing.assert_allclose(j_fresh, tt.step(fresh)["loss"], rtol=TRAIN_LOSS)


def _feeds_bn(key: str, state: dict) -> bool:
    """model.{i}.bias where model.{i+1} is a BatchNorm (has running_mean)."""
    parts = key.split(".")
    return parts[-1] == "bias" and f"model.{int(parts[1]) + 1}.running_mean" in state


@pytest.mark.parametrize("overrides", [
    ["schedule.name='step'", "schedule.step_size=7", "schedule.gamma=0.5"],
    ["schedule.name='multistep'", "schedule.milestones=[5, 12]", "schedule.gamma=0.1"],
    ["schedule.name='cosine'", "schedule.warmup_steps=4", "schedule.min_lr=1e-5"],
    ["optim.name='adam_l2'", "optim.weight_decay=0.1"],
    ["optim.name='adamw'", "optim.weight_decay=0.1", "optim.clip_grad_norm=0.5"],
])
def test_optimizers_and_schedules_follow_torch(overrides):
    import jax.numpy as jnp
    import optax
    import torch

    cfg = load_config("dncnn_s25:runlocal", ["optim.lr=0.01", "train.steps=20"] + overrides)
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(50).astype(np.float32)
    tx, schedule = make_optax(cfg, 20)
    tw = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt, sched, clip = make_torch(cfg, [tw], 20)
    jw, state = jnp.asarray(w0), tx.init(jnp.asarray(w0))
    for step in range(20):
        target = rng.standard_normal(50).astype(np.float32)
        lr_torch = opt.param_groups[0]["lr"]
        # optax evaluates the schedule in float32
        assert float(schedule(step)) == pytest.approx(lr_torch, rel=SCHEDULE_FLOAT32, abs=SCHEDULE_FLOAT32_FLOOR * 0.01)
        assert lr_at(step, 0.01, cfg.schedule, 20) == pytest.approx(lr_torch, rel=FLOAT64, abs=FLOAT64_FEW_ROUNDINGS)
        g = 2 * (jw - target)
        upd, state = tx.update(g, state, jw)
        jw = optax.apply_updates(jw, upd)
        opt.zero_grad()
        ((tw - torch.from_numpy(target)) ** 2).sum().backward()
        if clip:
            torch.nn.utils.clip_grad_norm_([tw], clip)
        opt.step()
        sched.step()
    np.testing.assert_allclose(np.asarray(jw), tw.detach().numpy(), rtol=0, atol=OPTIMIZER_STEPS)


def test_config_errors_list_valid_keys():
    with pytest.raises(ValueError, match=r"unknown key 'train.stepz'; valid keys: .*train\.steps"):
        load_config("dncnn_s25", ["train.stepz=3"])
    with pytest.raises(ValueError, match=r"--config: expected one of \['dncnn_s25'"):
        load_config("dncnn_s99")
    cfg = load_config("dncnn_s25", ["model.kwargs.nc=16", "optim.lr=3e-4"])
    assert cfg.model.kwargs.nc == 16 and cfg.optim.lr == 3e-4
    with pytest.raises(ValueError, match=r"optim.name: expected one of \['adam', 'adam_l2', 'adamw'\]"):
        make_optax(load_config("dncnn_s25", ["optim.name='sgd'"]), 10)


def test_short_train400_run_validates_alike_in_both_frameworks(tmp_path, shared_data):
    """DnCNN (small width) on Train400 at sigma 25, the same batches in both frameworks, then the KAIR
    protocol on Set12 with each framework's final weights: the PSNRs agree within 0.05 dB."""
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.inference import build_task
    from train.data import make_train_iterator

    steps = 150
    cfg = load_config("dncnn_s25", ["model.kwargs.nc=16", "model.kwargs.nb=6", f"train.steps={steps}",
                                    "train.global_batch_size=16", "data.patches_per_image=8", "optim.lr=1e-3"])
    init = initial_torch_state(cfg)
    jt, tt = Trainer(cfg, tmp_path, initial_state=init, progress=False), TorchTrainer(cfg, init)
    it = make_train_iterator(cfg.data, task=cfg.task, global_batch_size=16, seed=0)
    for _ in range(steps):
        batch = next(it)
        jt.state, _ = jt.train_step(jt.state, jt.device_batch(batch))
        tt.step(batch)
    kwargs = dict(cfg.model.kwargs)
    psnr = {}
    for fw, weights in (("jax", jt.params_torch_layout()), ("torch", tt.state_dict())):
        task = build_task("dncnn", weights, model_kwargs=kwargs, frameworks=(fw,))
        psnr[fw] = evaluate(task, shared_data / "denoise" / "Set12", "kair_dncnn", sigma=25, progress=False)[fw]["mean_psnr"]
    assert psnr["jax"] > 24.0, psnr  # trained: the noisy input is at 20.2 dB
    assert abs(psnr["jax"] - psnr["torch"]) <= PSNR_TRAINED_DB, psnr


@pytest.mark.parametrize("recipe", ["dncnn_s25", "ista_net_plus_r25", "srcnn_x3", "fsrcnn_x3", "espcn_x3", "srresnet_x4",
                                    "srgan_x4", "wasa_x2", "ista_net_plus_learned_phi_r25"])
def test_every_recipe_runlocal_trains(tmp_path, recipe):
    cfg = load_config(f"{recipe}:runlocal", ["train.steps=2", "train.log_every=1", "train.ckpt_every=2",
                                             "train.val_every=2"])
    last = Trainer(cfg, tmp_path, progress=False).run()
    assert last["step"] == 2 and np.isfinite(last["loss"])
    if cfg.val.source:
        assert np.isfinite(last["val_psnr"])


def test_l1_plus_perceptual_objective_matches_torch(tmp_path):
    """The wasa_x2 objective (L1 + 0.1 x VGG conv5_4 perceptual) on ESPCN: 5 Adam steps in both frameworks."""
    cfg = load_config("wasa_x2:runlocal", ["model.name='espcn'", "model.kwargs={'scale_factor': 2, 'num_channels': 3}",
                                           "train.steps=5", "val.source=''"])
    init = initial_torch_state(cfg)
    jt, tt = Trainer(cfg, tmp_path, initial_state=init, progress=False), TorchTrainer(cfg, init)
    rng = np.random.default_rng(0)
    j_loss, t_loss = [], []
    for _ in range(5):
        hr = rng.random((2, 32, 32, 3), dtype=np.float32)
        batch = {"input": hr[:, ::2, ::2], "target": hr}
        jt.state, m = jt.train_step(jt.state, jt.device_batch(batch))
        j_loss.append(float(m["loss"]))
        t_loss.append(tt.step(batch)["loss"])
    np.testing.assert_allclose(j_loss, t_loss, rtol=TRAIN_LOSS)
    jp, tp = jt.params_torch_layout(), tt.state_dict()
    for key in tp:
        np.testing.assert_allclose(jp[key], tp[key], rtol=0, atol=TRAIN_WEIGHTS, err_msg=key)


def test_srgan_generator_and_discriminator_steps_match_torch(tmp_path):
    """srgan_x4 (small): G step with a frozen, train-mode D, then the D step, 4 times in both frameworks."""
    cfg = load_config("srgan_x4:runlocal", ["train.steps=4", "val.source=''"])
    init = initial_torch_state(cfg)
    jt, tt = Trainer(cfg, tmp_path, initial_state=init, progress=False), TorchTrainer(cfg, init)
    rng = np.random.default_rng(0)
    for _ in range(4):
        hr = rng.random((2, 32, 32, 3), dtype=np.float32)
        batch = {"input": hr[:, ::4, ::4], "target": hr}
        jt.state, m = jt.train_step(jt.state, jt.device_batch(batch))
        t = tt.step(batch)
        np.testing.assert_allclose(float(m["loss"]), t["loss"], rtol=TRAIN_LOSS)
        np.testing.assert_allclose(float(m["l_d"]), tt.last_d_loss, rtol=TRAIN_LOSS)
    jp, tp = jt.params_torch_layout(), tt.state_dict()
    for key in tp:
        np.testing.assert_allclose(jp[key], tp[key], rtol=0, atol=TRAIN_WEIGHTS, err_msg=key)


def test_bfloat16_compute_and_ema(tmp_path):
    """compute_dtype=bfloat16 keeps float32 master weights and tracks the float32 losses to bfloat16 accuracy;
    ema_decay keeps an exponential moving average of the weights in the state, as BasicSR's net_g_ema."""
    losses = {}
    for dtype in ("float32", "bfloat16"):
        cfg = load_config("dncnn_s25:runlocal", ["model.kwargs.nc=8", "model.kwargs.nb=4", "train.steps=3",
                                                 f"train.compute_dtype={dtype!r}", "optim.ema_decay=0.5", "val.source=''"])
        init = initial_torch_state(cfg)
        jt = Trainer(cfg, tmp_path / dtype, initial_state=init, progress=False)
        losses[dtype] = []
        ema = {k: np.asarray(v) for k, v in jt.state["params"]["model"][0].items()}
        for batch in _batches(3):
            jt.state, m = jt.train_step(jt.state, jt.device_batch(batch))
            losses[dtype].append(float(m["loss"]))
            ema = {k: 0.5 * ema[k] + 0.5 * np.asarray(jt.state["params"]["model"][0][k]) for k in ema}
        assert jt.state["params"]["model"][0]["weight"].dtype == np.float32
        for k in ema:
            np.testing.assert_allclose(np.asarray(jt.state["ema"]["model"][0][k]), ema[k], rtol=OP,
                                       atol=FLOAT32_ABS_FLOOR)
    np.testing.assert_allclose(losses["bfloat16"], losses["float32"], rtol=BFLOAT16_LOSS)
    assert losses["bfloat16"] != losses["float32"]
