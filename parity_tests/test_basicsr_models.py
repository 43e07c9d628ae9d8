"""BasicSR layout for `msrresnet` and `vgg_style_discriminator` (jrestore.models.basicsr_sr and its twin).

Checks: state-dict keys and shapes are BasicSR's (written out here from basicsr/archs/srresnet_arch.py and
discriminator_arch.py); a BasicSR training checkpoint {'params': sd, 'params_ema': sd_ema} saved with
torch.save loads through `jrestore.convert.checkpoints.load_state_dict_file` into both frameworks with the
same outputs (MSRResNet x3 and the 256-pixel discriminator, which the registered parity cases do not
cover); output shapes; bad arguments and inputs in both frameworks; BasicSR's initialisation.
Whole-model parity (eval, train, gradients, Adam) of the registered cases runs in
parity_tests/test_models_parity.py.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import jrestore.models
import torch_ref.models
from jrestore.convert import load_torch_state_dict, torch_state_dict
from jrestore.convert.checkpoints import load_state_dict_file
from jrestore.parity.harness import assert_close, calibrate_batchnorm_, perturb_, torch_input
from jrestore.parity.tolerances import MODEL, STAT_Z

BN_LEAVES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def basicsr_msrresnet_keys(num_block: int, upscale: int) -> set:
    convs = (["conv_first"] + [f"body.{i}.conv{j}" for i in range(num_block) for j in (1, 2)]
             + ["upconv1"] + (["upconv2"] if upscale == 4 else []) + ["conv_hr", "conv_last"])
    return {f"{c}.{leaf}" for c in convs for leaf in ("weight", "bias")}


def basicsr_vgg_discriminator_keys(input_size: int) -> set:
    keys = {"conv0_0.weight", "conv0_0.bias", "conv0_1.weight"} | {f"bn0_1.{leaf}" for leaf in BN_LEAVES}
    for i in range(1, 5 if input_size == 128 else 6):
        for j in (0, 1):
            keys |= {f"conv{i}_{j}.weight"} | {f"bn{i}_{j}.{leaf}" for leaf in BN_LEAVES}
    return keys | {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"}


def _images(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.1, 1.1, shape).astype(np.float32)


# ---- key layout ----

@pytest.mark.parametrize("name,kwargs,expected,shapes", [
    ("msrresnet", {"num_feat": 8, "num_block": 3, "upscale": 4}, basicsr_msrresnet_keys(3, 4),
     {"upconv1.weight": (32, 8, 3, 3), "upconv2.weight": (32, 8, 3, 3), "conv_last.weight": (3, 8, 3, 3)}),
    ("msrresnet", {"num_feat": 8, "num_block": 1, "upscale": 3}, basicsr_msrresnet_keys(1, 3),
     {"upconv1.weight": (72, 8, 3, 3)}),
    ("msrresnet", {"num_feat": 8, "num_block": 0, "upscale": 2}, basicsr_msrresnet_keys(0, 2),
     {"upconv1.weight": (32, 8, 3, 3)}),
    ("vgg_style_discriminator", {"num_feat": 4}, basicsr_vgg_discriminator_keys(128),
     {"conv0_1.weight": (4, 4, 4, 4), "conv4_1.weight": (32, 32, 4, 4), "linear1.weight": (100, 32 * 16)}),
    ("vgg_style_discriminator", {"num_feat": 4, "input_size": 256}, basicsr_vgg_discriminator_keys(256),
     {"conv5_1.weight": (32, 32, 4, 4), "linear1.weight": (100, 32 * 16)}),
])
def test_state_dict_keys_are_basicsrs(name, kwargs, expected, shapes):
    t_sd = torch_ref.models.get(name, **kwargs).state_dict()
    assert set(t_sd) == expected
    for key, shape in shapes.items():
        assert tuple(t_sd[key].shape) == shape, key
    j_sd = torch_state_dict(jrestore.models.get(name, **kwargs))
    assert {k: tuple(np.shape(v)) for k, v in j_sd.items()} == {k: tuple(v.shape) for k, v in t_sd.items()}


# ---- BasicSR checkpoint files ----

@pytest.mark.parametrize("name,kwargs,shape", [
    ("msrresnet", {"num_feat": 8, "num_block": 2, "upscale": 3}, (2, 9, 7, 3)),
    ("vgg_style_discriminator", {"num_feat": 4, "input_size": 256}, (2, 256, 263, 3)),
])
def test_basicsr_checkpoint_loads(tmp_path, name, kwargs, shape):
    torch.manual_seed(0)
    sd = perturb_(torch_ref.models.get(name, **kwargs), 1).state_dict()
    sd_ema = perturb_(torch_ref.models.get(name, **kwargs), 2).state_dict()
    path = tmp_path / "net_g_5000.pth"
    torch.save({"params": sd, "params_ema": sd_ema}, path)  # what BasicSR's save_network writes

    state = load_state_dict_file(path)  # documented default: 'params_ema' when present
    assert set(state) == set(sd), "the {'params', 'params_ema'} wrapper was not unwrapped"
    assert all(torch.equal(state[k], sd_ema[k]) for k in sd_ema)
    state = load_state_dict_file(path, param_key="params")
    assert all(torch.equal(state[k], sd[k]) for k in sd)

    # the loaded dict drives both frameworks to the same output
    tm = torch_ref.models.get(name, **kwargs)
    tm.load_state_dict(state)
    jm = load_torch_state_dict(jrestore.models.get(name, **kwargs), state, source=str(path))
    tm.eval(); jm.eval()
    x = _images(3, shape)
    with torch.no_grad():
        t_out = tm(torch_input(x))
    assert_close(jm(jnp.asarray(x)), t_out, MODEL, relative=True)


def test_discriminator_eval_with_calibrated_batchnorm():
    """With perturbed running statistics D's eval logits barely depend on the input, so here the statistics
    are those of the batch itself (one train pass at momentum 1), which makes the eval logits input-dependent
    (here -0.29, 0.004, 0.19), and both frameworks must still agree."""
    torch.manual_seed(5)
    tm = perturb_(torch_ref.models.get("vgg_style_discriminator", num_feat=8), 5)
    x = _images(5, (3, 128, 131, 3))
    with torch.no_grad():
        logits = calibrate_batchnorm_(tm, torch_input(x))(torch_input(x))
    assert float(logits.max() - logits.min()) > 1e-2 * float(logits.abs().max()), logits
    jm = load_torch_state_dict(jrestore.models.get("vgg_style_discriminator", num_feat=8), tm.state_dict())
    jm.eval()
    assert_close(jm(jnp.asarray(x)), logits, MODEL, relative=True)


# ---- shapes (abstract evaluation: no compilation) ----

@pytest.mark.parametrize("name,kwargs,shape,expected", [
    ("msrresnet", {}, (2, 9, 7, 3), (2, 36, 28, 3)),
    ("msrresnet", {"upscale": 3}, (2, 9, 7, 3), (2, 27, 21, 3)),
    ("msrresnet", {"upscale": 2, "num_in_ch": 1, "num_out_ch": 1}, (2, 9, 7, 1), (2, 18, 14, 1)),
    ("msrresnet", {"upscale": 2, "num_in_ch": 1, "num_out_ch": 3}, (2, 9, 7, 1), (2, 18, 14, 3)),  # base broadcasts
    ("vgg_style_discriminator", {}, (2, 128, 128, 3), (2, 1)),
    ("vgg_style_discriminator", {}, (2, 128, 159, 3), (2, 1)),  # BasicSR checks only the height
    ("vgg_style_discriminator", {"input_size": 256, "num_in_ch": 1}, (1, 256, 256, 1), (1, 1)),
])
def test_output_shapes(name, kwargs, shape, expected):
    model = nnx.eval_shape(lambda: jrestore.models.get(name, **kwargs))
    graphdef, state = nnx.split(model)
    out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, jax.ShapeDtypeStruct(shape, jnp.float32))
    assert tuple(out.shape) == expected
    with torch.no_grad():
        t_out = torch_ref.models.get(name, **kwargs).eval()(torch.zeros(shape[0], shape[3], shape[1], shape[2]))
    assert tuple(t_out.shape) == (expected if len(expected) == 2 else
                                  (expected[0], expected[3], expected[1], expected[2]))


# ---- bad arguments and inputs, both frameworks ----

@pytest.mark.parametrize("name,kwargs,message", [
    ("msrresnet", {"upscale": 8}, r"upscale: expected one of \[2, 3, 4\], got 8"),
    ("msrresnet", {"num_out_ch": 1}, r"num_out_ch: expected num_in_ch \(3\)"),
    ("msrresnet", {"num_block": -1}, r"num_block: expected an integer >= 0"),
    ("msrresnet", {"num_feat": 0}, r"num_feat: expected an integer >= 1"),
    ("vgg_style_discriminator", {"input_size": 96}, r"input_size: expected one of \[128, 256\], got 96"),
    ("vgg_style_discriminator", {"num_in_ch": 0}, r"num_in_ch: expected an integer >= 1"),
])
def test_bad_arguments(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        jrestore.models.get(name, **kwargs)
    with pytest.raises(ValueError, match=message):
        torch_ref.models.get(name, **kwargs)


@pytest.mark.parametrize("name,kwargs,shape,message", [
    ("msrresnet", {"num_feat": 4, "num_block": 1}, (2, 9, 7, 1), r"x: expected 3 channels"),
    ("vgg_style_discriminator", {"num_feat": 4}, (1, 128, 160, 3),
     r"x: expected height 128 and width 128..159 \(input_size=128; linear1 needs a 4x4 feature map\), got 128x160"),
    ("vgg_style_discriminator", {"num_feat": 4}, (1, 127, 128, 3), r"x: expected height 128 .* got 127x128"),
    ("vgg_style_discriminator", {"num_feat": 4}, (1, 128, 128, 1), r"x: expected 3 channels"),
])
def test_bad_inputs(name, kwargs, shape, message):
    with pytest.raises(ValueError, match=message):
        jrestore.models.get(name, **kwargs)(jnp.zeros(shape, jnp.float32))
    with pytest.raises(ValueError, match=message):
        torch_ref.models.get(name, **kwargs)(torch.zeros(shape[0], shape[3], shape[1], shape[2]))


# ---- initialisation: BasicSR default_init_weights(..., 0.1) in G, PyTorch defaults in D ----

def _std_ok(values: np.ndarray, std: float) -> bool:
    # the sample std of n normal draws has relative standard error ~ 1 / sqrt(2n)
    return abs(values.std() / std - 1) < STAT_Z / math.sqrt(2 * values.size)


def test_msrresnet_init_is_basicsrs():
    kwargs = {"num_feat": 64, "num_block": 1, "upscale": 4}
    t_sd = torch_ref.models.get("msrresnet", **kwargs).state_dict()
    j_sd = torch_state_dict(jrestore.models.get("msrresnet", **kwargs))
    for key, value in t_sd.items():
        for framework, v in (("torch", value.numpy()), ("jax", np.asarray(j_sd[key]))):
            if key.endswith("bias"):
                assert not v.any(), (framework, key)
            else:  # kaiming_normal_ (fan_in, a=0) x 0.1
                assert _std_ok(v, 0.1 * math.sqrt(2.0 / np.prod(v.shape[1:]))), (framework, key, v.std())


def test_vgg_style_discriminator_keeps_pytorch_default_init():
    t_sd = torch_ref.models.get("vgg_style_discriminator", num_feat=8).state_dict()
    j_sd = torch_state_dict(jrestore.models.get("vgg_style_discriminator", num_feat=8))
    for key in ("conv0_0.weight", "conv3_1.weight", "linear1.weight", "linear1.bias"):
        fan_in = np.prod(t_sd[key.replace("bias", "weight")].shape[1:])
        for v in (t_sd[key].numpy(), np.asarray(j_sd[key])):  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            assert np.abs(v).max() <= 1 / math.sqrt(fan_in) and np.abs(v).max() > 0.9 / math.sqrt(fan_in), key
    assert np.array_equal(np.asarray(j_sd["bn2_1.running_var"]), t_sd["bn2_1.running_var"].numpy())
