"""ISTA-Net training as seed 000 describes it: progressive phase-wise stages (train/progressive.py), the
hybrid pixel + constraint + VGG objective, and the learned sampling matrix, in both frameworks."""
from __future__ import annotations

import numpy as np
import pytest

from jrestore.parity.tolerances import TRAIN_LOSS, TRAIN_WEIGHTS
from train.config import load_config
from train.progressive import Progressive, phase_of
from train.torch_trainer import TorchTrainer
from train.trainer import Trainer, initial_torch_state

pytestmark = pytest.mark.parity

NO_VAL = "val.source=''"


def _blocks(n: int, batch: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = rng.random((batch, 33, 33, 1), dtype=np.float32)
        yield {"input": x, "target": x}


def _phases(state: dict) -> dict:
    """{phase: {name: array}} of a torch-layout state dict (fcs.<i>.*), copied."""
    out = {}
    for key, value in state.items():
        phase = phase_of(key)
        if phase is not None:
            out.setdefault(phase, {})[key] = np.asarray(value).copy()
    return out


def _assert_weights_match(jp: dict, tp: dict) -> None:
    """JAX against torch weights after a short run. Phase 0's lambda_step is left out: with Qinit = Phi^T and
    orthonormal rows of Phi (the default and the official matrices), x0 = Phi^T y already satisfies
    Phi x0 = y, so phase 0's gradient step Phi^T (Phi x0 - y) is 0 and lambda_step's gradient is float32
    noise (3e-9 here), which Adam turns into lr-sized steps of random sign in either framework."""
    assert jp.keys() == tp.keys()
    for key in tp:
        if key != "fcs.0.lambda_step":
            np.testing.assert_allclose(jp[key], tp[key], rtol=0, atol=TRAIN_WEIGHTS, err_msg=key)


def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in a)


def _changed(a: dict, b: dict) -> bool:
    return all(not np.array_equal(a[k], b[k]) for k in a if k.endswith(("conv_D", "conv_G")))


@pytest.fixture(scope="module")
def progressive_pair():
    """ista_net_plus_progressive_r25:runlocal (3 phases; stages 1, 2, 3, 3 phases of 2 updates each, earlier
    phases frozen): JAX and torch stepped together on the same batches; the phases' weights after each update."""
    import tempfile

    cfg = load_config("ista_net_plus_progressive_r25:runlocal", [NO_VAL])
    init = initial_torch_state(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        jt, tt = Trainer(cfg, tmp, initial_state=init, progress=False), TorchTrainer(cfg, init)
        snaps = {"jax": [_phases(init)], "torch": [_phases(init)]}
        losses = {"jax": [], "torch": []}
        for batch in _blocks(8):
            jt.state, metrics = jt.train_step(jt.state, jt.device_batch(batch))
            losses["jax"].append(float(metrics["loss"]))
            losses["torch"].append(tt.step(batch)["loss"])
            snaps["jax"].append(_phases(jt.params_torch_layout()))
            snaps["torch"].append(_phases(tt.state_dict()))
        return cfg, snaps, losses, jt.params_torch_layout(), tt.state_dict()


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_each_stage_hands_its_weights_on_and_frozen_phases_stay_bit_equal(progressive_pair, framework):
    """snaps[u] is the state after u updates; stage k covers updates 2k, 2k + 1 (snaps 2k -> 2k + 2).
    Stage 0 trains phase 0 (1 and 2 untouched); stage 1 adds phase 1 and starts from stage 0's end, phase 0
    frozen bit-equal; stage 2 adds phase 2, phases 0 and 1 frozen; stage 3 fine-tunes all three."""
    cfg, snaps, _, _, _ = progressive_pair
    s = snaps[framework]
    assert Progressive.from_config(cfg).boundaries == (2, 4, 6)
    init = s[0]
    # stage 0: phase 0 trains, phases 1 and 2 are not run and stay at their initial values
    assert _changed(s[0][0], s[2][0])
    assert _same(s[2][1], init[1]) and _same(s[2][2], init[2])
    # stage 1: phase 0 is frozen at stage 0's end, phase 1 trains from its initial value, phase 2 waits
    assert _same(s[3][0], s[2][0]) and _same(s[4][0], s[2][0])
    assert _changed(init[1], s[4][1]) and _same(s[4][2], init[2])
    # stage 2: phases 0 and 1 frozen at stage 1's end, phase 2 trains
    assert _same(s[6][0], s[2][0]) and _same(s[6][1], s[4][1])
    assert _changed(init[2], s[6][2])
    # stage 3 (as many phases as stage 2): the whole network fine-tuned end to end
    for phase in range(3):
        assert _changed(s[6][phase], s[8][phase]), phase


def test_progressive_steps_match_torch(progressive_pair):
    """The masked per-phase Adam (optax) and the twin's grad=None freezing (torch.optim.Adam) are one
    optimiser: 8 updates through four stages give the same losses and weights."""
    _, _, losses, jp, tp = progressive_pair
    np.testing.assert_allclose(losses["jax"], losses["torch"], rtol=TRAIN_LOSS)
    assert losses["jax"][-1] < losses["jax"][0]
    _assert_weights_match(jp, tp)


def test_finetune_mode_keeps_training_the_earlier_phases():
    p = Progressive.from_config(load_config("ista_net_plus_progressive_r25:runlocal",
                                            ["progressive.earlier='finetune'"]))
    # rows: stages (1, 2, 3, 3 phases); columns: phases 0, 1, 2
    np.testing.assert_array_equal(p.table(), [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]])
    frozen = Progressive.from_config(load_config("ista_net_plus_progressive_r25:runlocal"))
    np.testing.assert_array_equal(frozen.table(), [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    assert [frozen.stage_of(u) for u in range(10)] == [0, 0, 1, 1, 2, 2, 3, 3, 3, 3]


def test_a_resumed_progressive_run_continues_in_its_stage(tmp_path):
    """The stage comes from the update count in the checkpoint: 3 updates, stop, resume to 6 equals 6 updates
    in one go, bit for bit (update 3 is in stage 1, with phase 0 frozen)."""
    overrides = ["model.kwargs.num_phases=2", "progressive.stages=[1, 2]", "progressive.steps=[2, 4]",
                 "train.global_batch_size=4", "train.log_every=1", "train.ckpt_every=3", NO_VAL]
    straight = load_config("ista_net_plus_progressive_r25:runlocal", overrides + ["train.steps=6"])
    a = Trainer(straight, tmp_path / "straight", progress=False)
    a.run()
    Trainer(load_config("ista_net_plus_progressive_r25:runlocal", overrides + ["train.steps=3"]),
            tmp_path / "resumed", progress=False).run()
    resumed = Trainer(straight, tmp_path / "resumed", progress=False, allow_config_change=True)
    resumed.run()
    assert a.step == 6 and resumed.step == 6
    pa, pb = a.params_torch_layout(), resumed.params_torch_layout()
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)


def test_progressive_config_errors():
    base = "ista_net_plus_progressive_r25:runlocal"
    cases = [(["progressive.stages=[2, 1, 3]"], "progressive.stages: expected non-decreasing"),
             (["progressive.stages=[1, 2]", "progressive.steps=[2, 2]"], "ending with model.kwargs.num_phases"),
             (["progressive.steps=[2, 2]"], "progressive.steps: expected 4 update counts"),
             (["progressive.earlier='thaw'"], "progressive.earlier: expected one of"),
             (["optim.name='adamw'"], "optim.name: progressive training supports 'adam'")]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            Progressive.from_config(load_config(base, overrides))


def test_hybrid_objective_is_the_seeds_pixel_constraint_and_vgg16_loss(tmp_path):
    """ista_net_plus_r25 with loss.perceptual.weight=0.1: the first loss equals seed 000's hierarchical_loss
    written out by hand in torch (F.mse_loss + 0.01 x the constraint loss + 0.1 x F.l1_loss of a VGG16's
    `features[:16]`, relu3_3, on the raw grey blocks repeated to RGB; a seeded full-width VGG16 saved as a
    torchvision state dict, as ImageNet weights would be; no ImageNet weights offline), and JAX and torch take
    the same 3 steps."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch_ref.models as tmodels

    # torchvision's vgg16().features layout, built by hand (torchvision is not a dependency)
    layers, channels = [], 1 * 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    torch.manual_seed(7)
    features = nn.Sequential(*layers)
    for layer in features:  # variance-preserving weights (as trained VGGs roughly are): relu3_3 is not ~0
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    vgg_file = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, vgg_file)
    cfg = load_config("ista_net_plus_r25:runlocal", ["loss.perceptual.weight=0.1", "loss.perceptual.num_feat=64",
                                                     f"loss.perceptual.vgg_weights={vgg_file}", NO_VAL])
    init = initial_torch_state(cfg)
    batches = list(_blocks(3, batch=2))
    model = tmodels.get("ista_net_plus", **dict(cfg.model.kwargs))
    model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in init.items()})
    x = torch.from_numpy(batches[0]["target"].transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        x_rec, syms = model(x)
        vgg = features[:16]
        want = (F.mse_loss(x_rec, x) + 0.01 * sum(torch.mean(s ** 2) for s in syms)
                + 0.1 * F.l1_loss(vgg(x_rec.repeat(1, 3, 1, 1)), vgg(x.repeat(1, 3, 1, 1))))
        pixel_only = F.mse_loss(x_rec, x) + 0.01 * sum(torch.mean(s ** 2) for s in syms)
    jt, tt = Trainer(cfg, tmp_path / "run", initial_state=init, progress=False), TorchTrainer(cfg, init)
    j, t = [], []
    for batch in batches:
        jt.state, metrics = jt.train_step(jt.state, jt.device_batch(batch))
        j.append(float(metrics["loss"]))
        t.append(tt.step(batch)["loss"])
    assert float(want) > float(pixel_only) * 1.03  # the VGG term is really in (about 5 % here)
    np.testing.assert_allclose(j[0], float(want), rtol=TRAIN_LOSS)
    np.testing.assert_allclose(j, t, rtol=TRAIN_LOSS)
    _assert_weights_match(jt.params_torch_layout(), tt.state_dict())


@pytest.mark.data
def test_learned_phi_recipe_starts_from_the_official_matrix_and_learns_it(tmp_path, shared_data):
    """ista_net_plus_learned_phi_r25: Phi is a parameter initialised from phi_0_25_1089.mat (no Qinit: it is
    the normalised Phi^T), and one update moves it in both frameworks alike."""
    import scipy.io

    cfg = load_config("ista_net_plus_learned_phi_r25", ["model.kwargs.num_phases=1", "train.global_batch_size=2", NO_VAL])
    official = scipy.io.loadmat(shared_data / "cs" / "ista_net" / "sampling_matrix" / "phi_0_25_1089.mat")["phi"]
    init = initial_torch_state(cfg)
    np.testing.assert_array_equal(init["phi"], official.astype(np.float32))
    jt, tt = Trainer(cfg, tmp_path, initial_state=init, progress=False), TorchTrainer(cfg, init)
    batch = next(_blocks(1, batch=2))
    jt.state, metrics = jt.train_step(jt.state, jt.device_batch(batch))
    np.testing.assert_allclose(float(metrics["loss"]), tt.step(batch)["loss"], rtol=TRAIN_LOSS)
    jp, tp = jt.params_torch_layout(), tt.state_dict()
    assert not np.array_equal(jp["phi"], init["phi"])
    np.testing.assert_allclose(jp["phi"], tp["phi"], rtol=0, atol=TRAIN_WEIGHTS)
