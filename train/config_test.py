"""train.config: `--set` through ml_collections' typed overrides, and configs for registered models by name,
including a model registered from outside the package (a tiny NNX denoiser, its torch twin and its spec)."""
from __future__ import annotations

import numpy as np
import pytest

from jrestore.parity import tolerances
from train.config import load_config

PLUGIN = "trainer_test_denoiser"


def test_set_values_take_the_type_of_their_field():
    cfg = load_config("dncnn_s25:runlocal", ["schedule.milestones=[5, 12]", "data.source=skimage", "data.path=''",
                                             "data.names=['camera']", "val.source=''", "model.kwargs.act_mode='R'", "optim.lr=1", "loss.kwargs.eps=1e-3",
                                             "data.num_epochs=2", "train.steps=3", "train.steps=4"])
    assert cfg.schedule.milestones == (5, 12) and cfg.data.names == ("camera",) and cfg.val.source == ""
    assert cfg.model.kwargs.act_mode == "R" and cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.loss.kwargs.eps == 1e-3 and cfg.data.num_epochs == 2 and cfg.train.steps == 4  # the last one wins
    with pytest.raises(ValueError, match=r"--set data.augment: expected True or False \(the default is True\), "
                                         r"got 'yes'"):
        load_config("dncnn_s25", ["data.augment=yes"])
    with pytest.raises(ValueError, match=r"--set model.kwargs.nc: expected an integer \(the default is 64\), got "
                                         r"'wide'"):
        load_config("dncnn_s25", ["model.kwargs.nc=wide"])
    with pytest.raises(ValueError, match=r"schedule.milestones: expected step numbers >= 0 such as \[1000, 2000\], "
                                         r"got \('abc',\)"):
        load_config("dncnn_s25", ["schedule.milestones=abc"])
    with pytest.raises(ValueError, match=r"--set: unknown key 'train'; valid keys: "):  # no whole sections
        load_config("dncnn_s25", ["train={'steps': 1}"])
    with pytest.raises(ValueError, match=r"--set: unknown key 'model.kwrags.nc'"):
        load_config("dncnn_s25", ["model.kwrags.nc=3"])


def test_a_model_name_loads_its_spec_recipe():
    assert load_config("dncnn:runlocal") == load_config("dncnn_s25:runlocal")
    assert load_config("srresnet").recipe == "srresnet_x4"


def test_a_model_without_recipe_gets_the_generic_one_for_its_kind():
    cfg = load_config("msrresnet:runlocal")
    assert (cfg.task.kind, cfg.task.scale, cfg.task.channels) == ("sr", 4, "rgb")  # from the constructor defaults
    assert cfg.data.patch_size % 4 == 0 and cfg.loss.name == "mse" and cfg.optim.lr == 1e-4
    assert cfg.train.steps == 4 and not cfg.val.source
    assert load_config("msrresnet").model.kwargs.to_dict() == {} and load_config("msrresnet").train.steps == 1000


@pytest.fixture(scope="module")
def plugin_model():
    """A model registered as a plugin would: JAX module, torch twin (same names) and spec, no recipe."""
    import torch
    from flax import nnx
    import jrestore.models
    import torch_ref.models
    from jrestore.core.spec import ModelSpec, ParityCase, all_specs, register_spec
    from jrestore.layers import Conv2d
    from jrestore.models._registry import MODELS as JAX_MODELS
    from torch_ref.models._registry import MODELS as TORCH_MODELS

    if PLUGIN not in all_specs():
        class TinyDenoiser(nnx.Module):
            """x - conv(relu(conv(x))): [B, H, W, C] -> [B, H, W, C]."""

            def __init__(self, channels: int = 1, features: int = 4, *, rngs: nnx.Rngs):
                self.head = Conv2d(channels, features, 3, padding=1, rngs=rngs)
                self.tail = Conv2d(features, channels, 3, padding=1, rngs=rngs)

            def __call__(self, x):
                return x - self.tail(nnx.relu(self.head(x)))

        class TorchTinyDenoiser(torch.nn.Module):
            def __init__(self, channels: int = 1, features: int = 4):
                super().__init__()
                self.head = torch.nn.Conv2d(channels, features, 3, padding=1)
                self.tail = torch.nn.Conv2d(features, channels, 3, padding=1)

            def forward(self, x):
                return x - self.tail(torch.relu(self.head(x)))

        JAX_MODELS.register(PLUGIN)(TinyDenoiser)
        TORCH_MODELS.register(PLUGIN)(TorchTinyDenoiser)
        register_spec(ModelSpec(PLUGIN, "denoise", channels_arg="channels", parity=ParityCase(
            small={"features": 2}, inputs=lambda rng, full: (rng.random((1, 8, 8, 1), dtype=np.float32),))))
    assert PLUGIN in jrestore.models.names() and PLUGIN in torch_ref.models.names()
    return PLUGIN


def test_plugin_model_without_recipe_trains_like_its_torch_twin(plugin_model, tmp_path):
    """`<plugin>:runlocal` is the generic denoising recipe (the parity case's small width); its run trains,
    and its first steps' losses equal the torch twin's on the same batches."""
    from train.data import make_train_iterator
    from train.torch_trainer import TorchTrainer
    from train.trainer import Trainer, initial_torch_state

    cfg = load_config(f"{plugin_model}:runlocal", ["train.steps=3", "train.log_every=1"])
    assert (cfg.model.name, cfg.task.kind, cfg.loss.name, dict(cfg.model.kwargs)) == \
        (plugin_model, "denoise", "mse", {"features": 2})
    init = initial_torch_state(cfg)
    jt, tt = Trainer(cfg, tmp_path / "steps", initial_state=init, progress=False), TorchTrainer(cfg, init)
    it = make_train_iterator(cfg.data, task=cfg.task, global_batch_size=int(cfg.train.global_batch_size), seed=0)
    for _ in range(3):
        batch = next(it)
        jt.state, metrics = jt.train_step(jt.state, jt.device_batch(batch))
        np.testing.assert_allclose(float(metrics["loss"]), tt.step(batch)["loss"], rtol=tolerances.TRAIN_LOSS)
    last = Trainer(cfg, tmp_path / "run", progress=False).run()
    assert last["step"] == 3 and np.isfinite(last["loss"])
