"""The one objective: loss arguments and the compute dtype reach the GAN path in both frameworks, and the
spec's extra inputs (FFDNet's noise level) reach the model."""
from __future__ import annotations

import numpy as np

from jrestore.parity import tolerances
from train.config import load_config

def _sr_batches(n: int, scale: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        hr = rng.random((2, 32, 32, 3), dtype=np.float32)
        yield {"input": hr[:, ::scale, ::scale], "target": hr}


def _gan_losses(cfg, tmp_path, steps: int = 1):
    from train.torch_trainer import TorchTrainer
    from train.trainer import Trainer, initial_torch_state

    init = initial_torch_state(cfg)
    jt, tt = Trainer(cfg, tmp_path, initial_state=init, progress=False), TorchTrainer(cfg, init)
    j, t = [], []
    for batch in _sr_batches(steps):
        jt.state, m = jt.train_step(jt.state, jt.device_batch(batch))
        j.append((float(m["loss"]), float(m["l_d"])))
        t.append((tt.step(batch)["loss"], tt.last_d_loss))
    return np.array(j), np.array(t)


def test_gan_path_takes_loss_kwargs_and_the_compute_dtype_in_both_frameworks(tmp_path):
    """Charbonnier with a large eps (0.01, not the default 1e-12) as the SRGAN pixel term: the torch GAN path
    used to drop loss.kwargs (its loss then differed from JAX's by about sqrt(eps) = 0.1), and
    train.compute_dtype=bfloat16 was silently ignored for GAN recipes. Now the float32 losses agree across
    frameworks, and bfloat16 moves each framework's losses off them by no more than its rounding explains."""
    base = ["val.source=''", "loss.name='charbonnier'", "loss.pixel_weight=1.0", "loss.kwargs.eps=0.01",
            "loss.perceptual.weight=0.0"]
    f32 = _gan_losses(load_config("srgan_x4:runlocal", base), tmp_path / "f32")
    np.testing.assert_allclose(f32[0], f32[1], rtol=tolerances.TRAIN_LOSS)
    assert f32[0][0, 0] > 0.1  # the eps is in: sqrt(d^2 + 0.01) >= 0.1 for every pixel
    bf16 = _gan_losses(load_config("srgan_x4:runlocal", base + ["train.compute_dtype='bfloat16'"]), tmp_path / "bf16")
    for framework in (0, 1):
        assert not np.array_equal(bf16[framework], f32[framework]), framework
        np.testing.assert_allclose(bf16[framework], f32[framework], rtol=tolerances.BFLOAT16_LOSS,
                                   err_msg=str(framework))


def test_ffdnet_gets_its_noise_level_from_the_spec(tmp_path):
    """FFDNet (no recipe: the generic denoising one) is fed task.sigma / 255 as its [B, 1, 1, 1] extra input:
    the first step's loss equals MSE(model(input, sigma / 255), target) computed here, and the torch twin's."""
    import jax.numpy as jnp
    import jrestore.models as jmodels
    from jrestore.convert import load_torch_state_dict
    from train.torch_trainer import TorchTrainer
    from train.trainer import Trainer, initial_torch_state

    cfg = load_config("ffdnet:runlocal", ["task.sigma=40", "val.source=''"])
    init = initial_torch_state(cfg)
    jt, tt = Trainer(cfg, tmp_path, initial_state=init, progress=False), TorchTrainer(cfg, init)
    rng = np.random.default_rng(0)
    clean = rng.random((4, 16, 16, 1), dtype=np.float32)
    batch = {"input": clean + rng.normal(0, 40 / 255, clean.shape).astype(np.float32), "target": clean}
    model = load_torch_state_dict(jmodels.get("ffdnet", **dict(cfg.model.kwargs)), init)
    model.train()
    out = model(jnp.asarray(batch["input"]), jnp.full((4, 1, 1, 1), 40 / 255, jnp.float32))
    want = float(jnp.mean((out - clean) ** 2))
    _, metrics = jt.train_step(jt.state, jt.device_batch(batch))
    np.testing.assert_allclose(float(metrics["loss"]), want, rtol=tolerances.TRAIN_LOSS)
    np.testing.assert_allclose(tt.step(batch)["loss"], want, rtol=tolerances.TRAIN_LOSS)


def test_wasa_recipe_feeds_vgg_the_raw_images_as_the_design_sketch_does():
    """wasa_x2 sets loss.perceptual.use_input_norm=False (seed 001: VGG19 on raw [0, 1] images); both
    frameworks' losses follow it, and the srgan_x4 recipe keeps BasicSR's ImageNet normalisation."""
    from train.objective import build_perceptual

    for recipe, normalised in (("wasa_x2:runlocal", False), ("srgan_x4:runlocal", True)):
        cfg = load_config(recipe)
        if not cfg.loss.perceptual.weight:
            cfg.loss.perceptual.update(weight=1.0, num_feat=4)
        assert bool(cfg.loss.perceptual.use_input_norm) is normalised, recipe
        jloss, tloss = build_perceptual(cfg)
        assert jloss.vgg.normalize is normalised and tloss.vgg.normalize is normalised, recipe
