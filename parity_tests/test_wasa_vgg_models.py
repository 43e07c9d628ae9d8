"""Wavelet-attention SR (WASA) and the VGG16/19 feature extractors.

The registered cases (the `parity` of the wasa and vgg specs) run in test_models_parity.py. Here: WASA x2 on one
channel, its key layout (the design's module names), the VGG taps by name and by torchvision index, the
pre-activation conv tap, VGG's first block against a float64 NumPy convolution, torchvision state-dict
layouts, and bad input / arguments in both frameworks.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import jrestore.models.vgg as jvgg
import jrestore.models.wasa as jwasa
import torch_ref.models.vgg as tvgg
import torch_ref.models.wasa as twasa
from jrestore.convert import ConversionError, load_torch_state_dict, load_torchvision_features
from jrestore.parity import tolerances
from jrestore.parity.harness import assert_close, perturb_, torch_input
from jrestore.parity.model_parity import compare_model

FAMILY = {"wasa": (jwasa.WASA, twasa.WASA), "vgg16": (jvgg.VGG16, tvgg.VGG16), "vgg19": (jvgg.VGG19, tvgg.VGG19)}


def _pair(name, kwargs, seed=0):
    jcls, tcls = FAMILY[name]
    torch.manual_seed(seed)
    tm = perturb_(tcls(**kwargs), seed).eval()
    return tm, load_torch_state_dict(jcls(**kwargs, rngs=nnx.Rngs(seed)), tm.state_dict())


def _images(seed, shape):
    return np.random.default_rng(seed).uniform(0.0, 1.0, shape).astype(np.float32)


# ---- WASA ----

def test_wasa_x2_single_channel_parity():
    result = compare_model("wasa", {"scale": 2, "num_channels": 1, "num_feat": 8, "num_block": 1, "reduction": 2},
                           (_images(1, (2, 8, 14, 1)),), seed=3, train_mode=False)
    assert result["ok"], {k: v["first_bad"] for k, v in result.items() if isinstance(v, dict) and not v["ok"]}
    assert result["eval"]["leaves"]["eval"]["scale"] > 0.1


def test_wasa_keys_follow_the_design_and_shapes():
    tm = twasa.WASA(scale=4, num_feat=8, num_block=2, reduction=4)
    keys = set(tm.state_dict())
    for key in ["head.weight", "body.0.conv1.weight", "body.1.conv2.bias", "body.0.ca.fc.0.weight", "body.1.conv3.weight",
                "sa.query_conv.weight", "sa.value_conv.bias", "sa.gamma", "upsample.0.weight", "upsample.2.weight", "upsample.4.weight",
                "skip.0.weight", "skip.2.bias"]:
        assert key in keys, (key, sorted(keys))
    assert tm.state_dict()["skip.0.weight"].shape == (8, 3, 5, 5)
    assert tm.state_dict()["body.0.conv1.weight"].shape == (32, 32, 3, 3)
    jm = jwasa.WASA(scale=4, num_feat=8, num_block=2, reduction=4, rngs=nnx.Rngs(0))
    out = jax.eval_shape(jm, jax.ShapeDtypeStruct((2, 10, 6, 3), jnp.float32))
    assert out.shape == (2, 40, 24, 3)


def test_wasa_zero_residual_branches_leave_head_plus_bicubic_skip():
    """With conv3 of every block and the attention's gamma at zero, body and sa are identities: the network
    reduces to upsample(2 head(x)) + skip(bicubic(x)), checked against torch's own modules."""
    tm, _ = _pair("wasa", {"scale": 2, "num_feat": 8, "num_block": 2, "reduction": 4}, seed=5)
    with torch.no_grad():
        for block in tm.body:
            block.conv3.weight.zero_(); block.conv3.bias.zero_()
        tm.sa.gamma.zero_()
    jm = load_torch_state_dict(jwasa.WASA(scale=2, num_feat=8, num_block=2, reduction=4, rngs=nnx.Rngs(0)),
                               tm.state_dict())
    x = _images(6, (2, 6, 10, 3))
    with torch.no_grad():
        xt = torch_input(x)
        up = torch.nn.functional.interpolate(xt, scale_factor=2, mode="bicubic", align_corners=False)
        want = tm.upsample(2 * tm.head(xt)) + tm.skip(up)  # y = sa(body(f)) + f = 2f
    assert_close(jm(jnp.asarray(x)), want, tolerances.MODEL, "reduced_wasa", relative=True)


# ---- VGG ----

def test_vgg_layer_table_matches_torchvision_indices():
    assert len(jvgg.VGG_LAYERS["vgg19"]) == 37 and len(jvgg.VGG_LAYERS["vgg16"]) == 31
    assert jvgg.tap_index("vgg19", "conv5_4") == 34 and jvgg.tap_index("vgg19", "relu5_4") == 35
    assert jvgg.tap_index("vgg16", "relu4_3") == 22 and jvgg.tap_index("vgg16", "pool5") == 30
    # the WASA sketch's perceptual loss: vgg19.features[:35] ends with conv5_4, before its ReLU
    assert jvgg.VGG_LAYERS["vgg19"][:35][-1] == "conv5_4"
    conv_keys = [k for k in tvgg.VGG19().state_dict() if k.endswith(".weight")]
    assert [int(k.split(".")[1]) for k in conv_keys] == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def test_vgg_taps_by_name_and_index_and_pre_activation():
    tm, jm = _pair("vgg19", {"num_feat": 4}, seed=7)
    x = _images(8, (2, 35, 33, 3))
    by_name = jm(jnp.asarray(x), taps=("conv5_4", "relu5_4", "relu2_2"))
    by_index = jm(jnp.asarray(x), taps=(34, 35, 8))
    assert list(by_name) == ["conv5_4", "relu5_4", "relu2_2"] and list(by_index) == list(by_name)
    for k in by_name:
        np.testing.assert_array_equal(np.asarray(by_name[k]), np.asarray(by_index[k]))
    conv = np.asarray(by_name["conv5_4"])
    assert conv.min() < 0 and conv.shape == (2, 2, 2, 32)  # 35x33 -> 17x16 -> 8x8 -> 4x4 -> 2x2 (floor pools)
    np.testing.assert_array_equal(np.asarray(by_name["relu5_4"]), np.maximum(conv, 0))
    with torch.no_grad():
        t = tm(torch_input(x), taps=("conv5_4", "relu5_4", "relu2_2"))
    assert_close(by_name, t, tolerances.MODEL, "vgg_taps", relative=True)


def _conv3x3_float64(x, w, b):
    """x [B, H, W, Cin], torch weight [Cout, Cin, 3, 3], zero padding 1."""
    h, wd = x.shape[1:3]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = sum(np.einsum("bhwc,oc->bhwo", xp[:, i:i + h, j:j + wd], w[:, :, i, j]) for i in range(3) for j in range(3))
    return out + b


def test_vgg_first_block_against_float64_numpy():
    tm, jm = _pair("vgg16", {"num_feat": 4}, seed=9)
    sd = {k: v.double().numpy() for k, v in tm.state_dict().items()}
    x = _images(10, (2, 9, 11, 3)).astype(np.float64)
    z = (x - jvgg.IMAGENET_MEAN) / jvgg.IMAGENET_STD
    r11 = np.maximum(_conv3x3_float64(z, sd["features.0.weight"], sd["features.0.bias"]), 0)
    c12 = _conv3x3_float64(r11, sd["features.2.weight"], sd["features.2.bias"])
    pool = np.maximum(c12, 0)[:, :8, :10].reshape(2, 4, 2, 5, 2, 4).max(axis=(2, 4))
    got = jm(jnp.asarray(x, jnp.float32), taps=("relu1_1", "conv1_2", "pool1"))
    for name, want in [("relu1_1", r11), ("conv1_2", c12), ("pool1", pool)]:
        np.testing.assert_allclose(np.asarray(got[name]), want, atol=tolerances.LAYER, err_msg=name)


def test_torchvision_state_dict_layouts_load():
    tm = perturb_(tvgg.VGG16(num_feat=4), 11)
    full = dict(tm.state_dict())
    full["classifier.0.weight"] = torch.zeros(10, 7)  # a torchvision checkpoint's head: ignored
    jm = load_torchvision_features(jvgg.VGG16(num_feat=4, rngs=nnx.Rngs(0)), full)
    bare = {k[len("features."):]: v for k, v in tm.state_dict().items()}  # vgg.features.state_dict()
    tm2 = tvgg.load_torchvision_features(tvgg.VGG16(num_feat=4), bare)
    x = _images(12, (2, 17, 19, 3))
    with torch.no_grad():
        t = tm2(torch_input(x), taps="relu4_3")
    assert_close(jm(jnp.asarray(x), taps="relu4_3"), t, tolerances.MODEL, "vgg16_relu4_3", relative=True)
    with pytest.raises(ValueError, match=r"'features.31.weight' is outside vgg16's features"):
        jvgg.torchvision_features({**full, "features.31.weight": torch.zeros(1)}, "vgg16")
    wrong = {**full, "features.0.weight": torch.zeros(4, 3, 5, 5)}
    with pytest.raises(ConversionError, match=r"features\.0\.weight.*\(4, 3, 5, 5\)"):
        load_torchvision_features(jvgg.VGG16(num_feat=4, rngs=nnx.Rngs(0)), wrong)


# ---- bad input and arguments, both frameworks ----

BAD_INPUTS = [  # (name, kwargs, NHWC shape, call kwargs, message)
    ("wasa", {"num_feat": 8, "num_block": 1, "reduction": 4}, (2, 9, 6, 3), {},
     r"x: expected even height and width .* got 9x6"),
    ("wasa", {"num_feat": 8, "num_block": 1, "reduction": 4}, (2, 8, 6, 1), {}, r"x: expected 3 channels"),
    ("vgg19", {"num_feat": 4}, (2, 15, 40, 3), {"taps": "relu5_4"}, r"x: expected height and width of at least 16"),
    ("vgg16", {"num_feat": 4}, (2, 16, 16, 1), {}, r"x: expected 3 channels"),
    ("vgg16", {"num_feat": 4}, (2, 16, 16, 3), {"taps": "relu5_4"}, r"taps: expected a layer name of vgg16"),
    ("vgg19", {"num_feat": 4}, (2, 16, 16, 3), {"taps": 37}, r"taps: index 37 out of range for vgg19 \(0 .. 36\)"),
]


@pytest.mark.parametrize("name,kwargs,shape,call,message", BAD_INPUTS)
def test_bad_input(name, kwargs, shape, call, message):
    jcls, tcls = FAMILY[name]
    jm = nnx.eval_shape(lambda: jcls(**kwargs, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=message):
        jax.eval_shape(lambda x: jm(x, **call), jax.ShapeDtypeStruct(shape, jnp.float32))
    with pytest.raises(ValueError, match=message):
        tcls(**kwargs)(torch.zeros(shape[0], shape[3], shape[1], shape[2]), **call)


BAD_ARGUMENTS = [
    ("wasa", {"scale": 3}, r"scale: expected one of \[2, 4\], got 3"),
    ("wasa", {"num_feat": 4}, r"num_feat: expected an integer >= 8, got 4"),
    ("wasa", {"num_feat": 8, "reduction": 64}, r"reduction: expected at most 4 \* num_feat = 32"),
    ("vgg19", {"num_feat": 0}, r"num_feat: expected an integer >= 1, got 0"),
    ("vgg19", {"default_taps": ("relu6_1",)}, r"taps: expected a layer name of vgg19"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD_ARGUMENTS)
def test_bad_arguments(name, kwargs, message):
    jcls, tcls = FAMILY[name]
    with pytest.raises(ValueError, match=message):
        nnx.eval_shape(lambda: jcls(**kwargs, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=message):
        tcls(**kwargs)
