"""Denoising family (DnCNN and its variants, FFDNet, attention U-Net, two-scale enhancer).

Here (the registered cases run in test_models_parity.py): further variants, float64
NumPy references for the pieces whose semantics are decisions of this port (BN folding, FFDNet's padding,
ceil-mode pooling and crop, the attention gate), checkpoint key layouts (KAIR, AttU_Net), bad input and
arguments in both frameworks, and the official DnCNN-S sigma=25 checkpoint on Set12/01.png under KAIR's
main_test_dncnn.py protocol against expected_psnr.json.
"""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from PIL import Image

import jrestore.models.attention_unet as jatt
import jrestore.models.dncnn as jdncnn
import jrestore.models.ffdnet as jffdnet
import jrestore.models.multiscale_enhancer as jmse
import torch_ref.models.attention_unet as tatt
import torch_ref.models.dncnn as tdncnn
import torch_ref.models.ffdnet as tffdnet
import torch_ref.models.multiscale_enhancer as tmse
from jrestore.convert import ConversionError, load_torch_state_dict
from jrestore.metrics import psnr_reference
from jrestore.ops.noise import numpy_legacy_gaussian_noise
from jrestore.parity import tolerances
from jrestore.core.models.dncnn import noisy_images
from jrestore.parity.cases import all_cases
from jrestore.parity.harness import assert_close, perturb_, torch_input
from jrestore.parity.model_parity import compare_model

FAMILY = {"dncnn": (jdncnn.DnCNN, tdncnn.DnCNN), "ffdnet": (jffdnet.FFDNet, tffdnet.FFDNet),
          "attention_unet": (jatt.AttentionUNet, tatt.AttentionUNet),
          "multiscale_enhancer": (jmse.MultiScaleEnhancer, tmse.MultiScaleEnhancer)}
CASES = {name: case for name, case in all_cases().items() if name in FAMILY}


def _fmt(result):
    return {k: (v["first_bad"], v["max_abs"], v["max_rel"]) for k, v in result.items()
            if isinstance(v, dict) and not v["ok"]}


def _pair(name, kwargs, seed=0):
    """A perturbed torch_ref model and its converted jrestore twin, both in eval mode."""
    jcls, tcls = FAMILY[name]
    torch.manual_seed(seed)
    tm = perturb_(tcls(**kwargs), seed).eval()
    jm = load_torch_state_dict(jcls(**kwargs, rngs=nnx.Rngs(seed)), tm.state_dict())
    jm.eval()
    return tm, jm


# ---- the registered cases, and further variants ----

def test_cases_cover_the_family_and_batchnorm():
    assert sorted(CASES) == sorted(FAMILY)
    for name, case in CASES.items():
        has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in FAMILY[name][1](**case.small).modules())
        assert case.train_mode == has_bn, name
        x = case.inputs(np.random.default_rng(0), False)[0]
        assert x.shape[0] >= 2 and x.shape[1] != x.shape[2], (name, x.shape)


def _two(rng, shape, sigma_batch=None):
    x = noisy_images(rng, shape)
    if sigma_batch is None:
        return (x,)
    return x, rng.uniform(0.0, 0.2, (sigma_batch, 1, 1, 1)).astype(np.float32)


VARIANTS = [  # (name, kwargs, input shape, sigma?, BN train mode?, gradients + Adam?)
    ("dncnn", {"nc": 8, "nb": 4, "variant": "residual"}, (2, 17, 15, 1), False, True, True),
    ("dncnn", {"nc": 8, "nb": 4, "variant": "separable", "act_mode": "BL"}, (2, 17, 15, 1), False, True, True),
    ("dncnn", {"nc": 8, "nb": 3, "variant": "residual", "act_mode": "L"}, (2, 9, 7, 1), False, False, False),
    # the design document's residual DnCNN: PyTorch's BatchNorm defaults (train mode checks the running stats)
    ("dncnn", {"nc": 8, "nb": 4, "variant": "residual", "bn_settings": "pytorch"}, (2, 17, 15, 1), False, True,
     True),
    # three channels: the pixel-unshuffle channel order (c, i, j) only shows with C > 1
    ("ffdnet", {"in_nc": 3, "out_nc": 3, "nc": 8, "nb": 4, "act_mode": "BR"}, (2, 16, 11, 3), True, True, False),
    # eager U-Net gradients cost ~10 s of per-op compilation; the registered depth-2 case has them
    ("attention_unet", {"img_ch": 3, "output_ch": 3, "num_feat": 4, "depth": 3, "residual": True},
     (2, 24, 16, 3), False, False, False),
]


def _biases_feeding_batchnorm(module: torch.nn.Module) -> set:
    """Biases of layers directly followed by a BatchNorm2d (through linear maps only). In train mode BN
    subtracts each channel's batch mean, so d loss / d bias is exactly zero: both frameworks hold float32
    rounding noise there (~1e-7 .. 1e-6), and Adam's first step, lr * g / (|g| + eps), turns noise above
    ADAM_GRAD_FLOOR into a full step of random sign."""
    found = set()
    for prefix, parent in module.named_modules():
        children = list(parent.named_children())
        for (name, layer), (_, nxt) in zip(children, children[1:]):
            if isinstance(nxt, torch.nn.BatchNorm2d):
                found |= {".".join(filter(None, (prefix, name, p))) for p, _ in layer.named_parameters()
                          if p.endswith("bias")}
    return found


@pytest.mark.parametrize("name,kwargs,shape,sigma,bn,grad", VARIANTS)
def test_variant_parity(name, kwargs, shape, sigma, bn, grad):
    inputs = _two(np.random.default_rng(4), shape, shape[0] if sigma else None)
    result = compare_model(name, kwargs, inputs, seed=4, train_mode=bn, grad=grad)
    checks = [k for k, v in result.items() if isinstance(v, dict)]  # the checks, not "ok" / "perturbed"
    assert checks == ["eval"] + ["train"] * bn + ["grad", "adam"] * grad
    assert all(result[k]["ok"] for k in checks if k != "adam"), _fmt(result)
    if not grad:
        return
    zero = _biases_feeding_batchnorm(FAMILY[name][1](**kwargs)) if bn else set()
    assert bool(zero) == bn
    for key in zero:  # analytically zero in train mode: zero within the gradient tolerance in both frameworks
        leaf = result["grad"]["leaves"][f"grad.{key}"]
        assert leaf["scale"] <= tolerances.GRADIENT and leaf["max_abs"] <= tolerances.GRADIENT, (key, leaf)
    adam = {k: v for k, v in result["adam"]["leaves"].items() if k.removeprefix("adam.") not in zero}
    bad = {k: v["max_abs"] for k, v in adam.items() if v["max_abs"] > tolerances.OPTIMIZER_STEP * max(1.0, v["scale"])}
    assert not bad and len(adam) == len(result["adam"]["leaves"]) - len(zero), bad


# ---- DnCNN: BN folding (the official checkpoint's layout), KAIR's keys and BN settings ----

def test_dncnn_bn_folded_into_r_layout_gives_the_same_network():
    """KAIR's merge_bn: an eval 'BR' DnCNN equals the 'R' DnCNN whose convs absorb each BN (float64 fold):
    w' = w g / sqrt(v + 1e-4), b' = (b - m) g / sqrt(v + 1e-4) + beta. Checks eps 1e-4 and the index layout."""
    tm, jm = _pair("dncnn", {"nc": 8, "nb": 5}, seed=6)
    sd = {k: v.double().numpy() for k, v in tm.state_dict().items()}
    folded, i = {}, 0
    for key in [k for k in sd if k.endswith(".weight") and sd[k].ndim == 4]:
        idx = int(key.split(".")[1])
        w, b = sd[f"model.{idx}.weight"], sd[f"model.{idx}.bias"]
        if f"model.{idx + 1}.running_var" in sd:  # conv followed by BN
            bn = {leaf: sd[f"model.{idx + 1}.{leaf}"] for leaf in ("weight", "bias", "running_mean", "running_var")}
            scale = bn["weight"] / np.sqrt(bn["running_var"] + 1e-4)
            w, b = w * scale[:, None, None, None], (b - bn["running_mean"]) * scale + bn["bias"]
        folded[f"model.{2 * i}.weight"], folded[f"model.{2 * i}.bias"] = w.astype(np.float32), b.astype(np.float32)
        i += 1
    assert i == 5
    x = noisy_images(np.random.default_rng(6), (2, 13, 11, 1))
    tr = tdncnn.DnCNN(nc=8, nb=5, act_mode="R").eval()
    tr.load_state_dict({k: torch.from_numpy(v) for k, v in folded.items()})
    jr = load_torch_state_dict(jdncnn.DnCNN(nc=8, nb=5, act_mode="R", rngs=nnx.Rngs(0)), folded)
    with torch.no_grad():
        t_bn, t_r = tm(torch_input(x)), tr(torch_input(x))
    assert_close(jm(jnp.asarray(x)), t_bn, tolerances.MODEL, "dncnn_br", relative=True)
    assert_close(jr(jnp.asarray(x)), t_bn, tolerances.MODEL, "dncnn_r_folded_jax", relative=True)
    assert_close(t_r, t_bn, tolerances.MODEL, "dncnn_r_folded_torch", relative=True, layout="none")
    assert float((t_bn - torch_input(x)).abs().max()) > 0.01  # the predicted noise is not ~0


def test_dncnn_keys_and_batchnorm_follow_kair():
    r = tdncnn.DnCNN(act_mode="R").state_dict()
    assert list(r) == [f"model.{2 * i}.{leaf}" for i in range(17) for leaf in ("weight", "bias")]
    assert r["model.0.weight"].shape == (64, 1, 3, 3) and r["model.32.weight"].shape == (1, 64, 3, 3)
    br = tdncnn.DnCNN().state_dict()  # head (0, 1), 15 x (conv, BN, ReLU) at 2 + 3k, tail at 47
    convs = [k for k in br if k.endswith("weight") and br[k].ndim == 4]
    assert convs == [f"model.{i}.weight" for i in [0] + [2 + 3 * k for k in range(15)] + [47]]
    assert "model.3.running_var" in br and "model.46.weight" not in br
    assert len(tdncnn.DnCNN(nb=20).model) == 2 + 3 * 18 + 1  # DnCNN-B (blind) depth
    bns = [m for m in tdncnn.DnCNN(nc=8, nb=4).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 2 and all(m.momentum == 0.9 and m.eps == 1e-4 for m in bns)
    j = jdncnn.DnCNN(nc=8, nb=4, rngs=nnx.Rngs(0))
    assert [(j.model[i].momentum, j.model[i].eps) for i in (3, 6)] == [(0.9, 1e-4)] * 2
    res = tdncnn.DnCNN(nc=8, nb=4, variant="residual").state_dict()
    assert "model.2.conv1.weight" in res and "model.3.bn2.running_var" in res and "model.4.weight" in res
    sep = tdncnn.DnCNN(nc=8, nb=3, variant="separable").state_dict()
    assert sep["model.2.depthwise.weight"].shape == (8, 1, 3, 3)
    assert sep["model.2.pointwise.weight"].shape == (8, 8, 1, 1)


# ---- FFDNet: padding, noise map, KAIR keys ----

def test_ffdnet_odd_sizes_equal_replicate_padding_then_crop():
    """KAIR pads right / bottom by replication: the odd-size output is the padded-input output, cropped."""
    tm, jm = _pair("ffdnet", {"nc": 8, "nb": 3}, seed=7)
    rng = np.random.default_rng(7)
    x, sigma = noisy_images(rng, (2, 9, 7, 1)), np.array([0.05, 0.15], np.float32).reshape(2, 1, 1, 1)
    x_even = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="edge")
    out = np.asarray(jm(jnp.asarray(x), jnp.asarray(sigma)))
    np.testing.assert_allclose(out, np.asarray(jm(jnp.asarray(x_even), jnp.asarray(sigma)))[:, :9, :7],
                               atol=tolerances.OP)
    with torch.no_grad():
        t_out = tm(torch_input(x), torch.from_numpy(sigma))
        t_even = tm(torch_input(x_even), torch.from_numpy(sigma))[..., :9, :7]
    assert_close(out, t_even, tolerances.MODEL, "ffdnet_padded", relative=True)
    assert_close(out, t_out, tolerances.MODEL, "ffdnet_odd", relative=True)


def test_ffdnet_scalar_sigma_and_noise_map_channel():
    tm, jm = _pair("ffdnet", {"nc": 8, "nb": 3}, seed=8)
    x = noisy_images(np.random.default_rng(8), (2, 8, 6, 1))
    per_image = np.full((2, 1, 1, 1), 0.1, np.float32)
    np.testing.assert_array_equal(np.asarray(jm(jnp.asarray(x), 0.1)), np.asarray(jm(jnp.asarray(x), per_image)))
    with torch.no_grad():
        assert torch.equal(tm(torch_input(x), 0.1), tm(torch_input(x), torch.from_numpy(per_image)))
    # the noise map is the LAST of the 4 * in_nc + 1 head channels (KAIR: cat((unshuffled x, m), 1))
    head = tm.model[0].weight
    assert head.shape == (8, 5, 3, 3)
    with torch.no_grad():
        head[:, 4].zero_()
        jm.model[0].weight[...] = jm.model[0].weight[...].at[:, :, 4, :].set(0.0)
        a, b = (tm(torch_input(x), s) for s in (0.0, 0.3))
    assert torch.equal(a, b)
    np.testing.assert_array_equal(np.asarray(jm(jnp.asarray(x), 0.0)), np.asarray(jm(jnp.asarray(x), 0.3)))
    keys = tffdnet.FFDNet().state_dict()
    assert list(keys) == [f"model.{2 * i}.{leaf}" for i in range(15) for leaf in ("weight", "bias")]
    assert keys["model.28.weight"].shape == (4, 64, 3, 3)


# ---- attention U-Net: AttU_Net's keys, the gate against float64 NumPy, pooling ----

def test_attention_unet_default_is_attu_net_layout():
    with torch.device("meta"):  # shapes only: no 35M-parameter initialisation
        tm = tatt.AttentionUNet(img_ch=3)
    sd = tm.state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    expected = {  # LeeJunHyun/Image_Segmentation AttU_Net(img_ch=3, output_ch=1)
        "Conv1.conv.0.weight": (64, 3, 3, 3), "Conv1.conv.4.running_var": (64,),
        "Conv5.conv.3.weight": (1024, 1024, 3, 3),
        "Up5.up.1.weight": (512, 1024, 3, 3), "Up5.up.2.bias": (512,), "Att5.W_g.0.weight": (256, 512, 1, 1),
        "Att5.W_x.1.running_mean": (256,), "Att5.psi.0.weight": (1, 256, 1, 1), "Att5.psi.1.weight": (1,),
        "Up_conv5.conv.0.weight": (512, 1024, 3, 3), "Att2.W_g.0.weight": (32, 64, 1, 1),
        "Up_conv2.conv.3.weight": (64, 64, 3, 3), "Conv_1x1.weight": (1, 64, 1, 1)}
    assert {k: shapes.get(k) for k in expected} == expected
    prefixes = sorted({k.split(".")[0] for k in sd})
    assert prefixes == sorted([f"Conv{i}" for i in range(1, 6)] + [f"{p}{i}" for p in ("Up", "Att", "Up_conv")
                                                                    for i in range(2, 6)] + ["Conv_1x1"])
    # AttU_Net(img_ch=3, output_ch=1) counted from network.py: conv_block = 2 x (conv3x3 + bias, BN),
    # up_conv = conv3x3 + bias, BN; Attention_block = W_g, W_x (conv1x1 + bias, BN) and psi (to 1 channel)
    conv_block = lambda ci, co: (9 * ci * co + co + 2 * co) + (9 * co * co + co + 2 * co)  # noqa: E731
    up_conv = lambda ci, co: 9 * ci * co + co + 2 * co  # noqa: E731
    gate = lambda fg, fl, fi: (fg * fi + 3 * fi) + (fl * fi + 3 * fi) + (fi + 1 + 2)  # noqa: E731
    expected_count = sum(conv_block(ci, co) for ci, co in ((3, 64), (64, 128), (128, 256), (256, 512), (512, 1024)))
    expected_count += sum(up_conv(2 * c, c) + gate(c, c, c // 2) + conv_block(2 * c, c) for c in (512, 256, 128, 64))
    expected_count += 64 + 1
    assert expected_count == 34_878_573
    n_params = sum(p.numel() for p in tm.parameters())
    assert n_params == expected_count
    jm = nnx.eval_shape(lambda: jatt.AttentionUNet(img_ch=3, rngs=nnx.Rngs(0)))
    assert sum(int(np.prod(v.shape)) for _, v in nnx.to_flat_state(nnx.state(jm, nnx.Param))) == n_params


def _bn_eval(x, p, eps=1e-5):
    return (x - p["running_mean"]) / np.sqrt(p["running_var"] + eps) * p["weight"] + p["bias"]


def test_attention_gate_against_float64_numpy():
    """x * sigmoid(BN(conv1x1(relu(BN(W_g g) + BN(W_x x))))) with eval BN, as a float64 matmul formula."""
    torch.manual_seed(9)
    tb = perturb_(tatt.AttentionBlock(F_g=6, F_l=4, F_int=3), 9).eval()
    jb = load_torch_state_dict(jatt.AttentionBlock(F_g=6, F_l=4, F_int=3, rngs=nnx.Rngs(0)), tb.state_dict())
    jb.eval()
    sd = {k: v.double().numpy() for k, v in tb.state_dict().items()}
    rng = np.random.default_rng(9)
    g, x = rng.normal(size=(2, 7, 5, 6)).astype(np.float32), rng.normal(size=(2, 7, 5, 4)).astype(np.float32)

    def conv_bn(v, name):
        y = v.astype(np.float64) @ sd[f"{name}.0.weight"][:, :, 0, 0].T + sd[f"{name}.0.bias"]
        return _bn_eval(y, {k: sd[f"{name}.1.{k}"] for k in ("weight", "bias", "running_mean", "running_var")})

    psi = 1.0 / (1.0 + np.exp(-conv_bn(np.maximum(conv_bn(g, "W_g") + conv_bn(x, "W_x"), 0.0), "psi")))
    ref = x * psi
    assert 0.05 < psi.std()  # the gate varies over the image
    np.testing.assert_allclose(np.asarray(jb(jnp.asarray(g), jnp.asarray(x))), ref, atol=tolerances.LAYER)
    with torch.no_grad():
        t = tb(torch_input(g), torch_input(x)).permute(0, 2, 3, 1).double().numpy()
    np.testing.assert_allclose(t, ref, atol=tolerances.LAYER)


# ---- two-scale enhancer against float64 NumPy (the decisions: padding 1, ceil pooling, crop) ----

def _conv3x3(x, w, b):
    """x [B, H, W, Cin] float64, torch weight [Cout, Cin, 3, 3], zero padding 1 -> [B, H, W, Cout]."""
    h, wd = x.shape[1:3]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(xp[:, i:i + h, j:j + wd] @ w[:, :, i, j].T for i in range(3) for j in range(3)) + b


def test_multiscale_enhancer_against_float64_numpy():
    tm, jm = _pair("multiscale_enhancer", {"in_channels": 2, "num_feat": 3}, seed=11)
    sd = {k: v.double().numpy() for k, v in tm.state_dict().items()}
    x = noisy_images(np.random.default_rng(11), (2, 9, 7, 2))
    x64 = x.astype(np.float64)
    s1 = np.maximum(_conv3x3(x64, sd["scale1.0.weight"], sd["scale1.0.bias"]), 0.0)
    pooled = np.full((2, 5, 4, 2), -np.inf)  # the 2x2 window of pixel (i, j) is (i // 2, j // 2)
    for i in range(9):
        for j in range(7):
            pooled[:, i // 2, j // 2] = np.maximum(pooled[:, i // 2, j // 2], x64[:, i, j])
    low = _conv3x3(pooled, sd["scale2.1.weight"], sd["scale2.1.bias"])
    s2 = low[:, np.arange(9) // 2][:, :, np.arange(7) // 2]
    ref = np.concatenate([s1, s2], -1) @ sd["fusion.weight"][:, :, 0, 0].T + sd["fusion.bias"]
    np.testing.assert_allclose(np.asarray(jm(jnp.asarray(x))), ref, atol=tolerances.LAYER)
    with torch.no_grad():
        t = tm(torch_input(x)).permute(0, 2, 3, 1).double().numpy()
    np.testing.assert_allclose(t, ref, atol=tolerances.LAYER)


# ---- shapes (abstract evaluation in JAX; torch on zeros) ----

def _abstract_call(cls, kwargs, shapes, dtype=jnp.float32):
    model = nnx.eval_shape(lambda: cls(**kwargs, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(model)
    args = [jax.ShapeDtypeStruct(s, dtype) if isinstance(s, tuple) else s for s in shapes]
    out = jax.eval_shape(lambda st, *a: nnx.merge(graphdef, st)(*a), state, *args)
    return tuple(out.shape)


@pytest.mark.parametrize("name,kwargs,shapes,expected", [
    ("dncnn", {}, [(2, 17, 15, 1)], (2, 17, 15, 1)),
    ("dncnn", {"in_nc": 3, "out_nc": 3, "nb": 20, "variant": "separable"}, [(1, 9, 4, 3)], (1, 9, 4, 3)),
    ("ffdnet", {}, [(2, 17, 15, 1), (2, 1, 1, 1)], (2, 17, 15, 1)),
    ("ffdnet", {"in_nc": 3, "out_nc": 3, "nc": 96, "nb": 12}, [(1, 1, 1, 3), 0.1], (1, 1, 1, 3)),
    ("attention_unet", {"num_feat": 4}, [(1, 48, 32, 1)], (1, 48, 32, 1)),
    ("attention_unet", {"img_ch": 3, "depth": 1, "num_feat": 8}, [(2, 6, 2, 3)], (2, 6, 2, 1)),
    ("multiscale_enhancer", {}, [(2, 17, 15, 1)], (2, 17, 15, 1)),
    ("multiscale_enhancer", {"in_channels": 3}, [(1, 1, 1, 3)], (1, 1, 1, 3)),
])
def test_output_shapes(name, kwargs, shapes, expected):
    jcls, tcls = FAMILY[name]
    assert _abstract_call(jcls, kwargs, shapes) == expected
    args = [torch.zeros(s[0], s[3], s[1], s[2]) if isinstance(s, tuple) else s for s in shapes]
    with torch.no_grad():
        out = tcls(**kwargs).eval()(*args)
    assert tuple(out.shape) == (expected[0], expected[3], expected[1], expected[2])


# ---- bad input and bad arguments, both frameworks ----

BAD_INPUTS = [
    # (name, kwargs, NHWC shapes / extra args, dtype, message)
    ("dncnn", {"nc": 8, "nb": 3}, [(2, 17, 15, 3)], "float32", r"x: expected 1 channels"),
    ("dncnn", {"nc": 8, "nb": 3}, [(2, 17, 15, 1)], "int32", r"x: expected a floating-point array"),
    ("dncnn", {"nc": 8, "nb": 3}, [(17, 15, 1)], "float32", r"x: expected a rank-4"),
    ("ffdnet", {"nc": 8, "nb": 3}, [(2, 17, 15, 3), (2, 1, 1, 1)], "float32", r"x: expected 1 channels"),
    ("ffdnet", {"nc": 8, "nb": 3}, [(2, 17, 15, 1), (3, 1, 1, 1)], "float32",
     r"sigma: expected a scalar or shape \(2, 1, 1, 1\) \(one noise level per image\), got \(3, 1, 1, 1\)"),
    ("ffdnet", {"nc": 8, "nb": 3}, [(2, 17, 15, 1), (2,)], "float32", r"sigma: expected a scalar or shape"),
    ("ffdnet", {"nc": 8, "nb": 3}, [(2, 17, 15, 1), [0.1, 0.2]], "float32", r"sigma: expected a scalar or shape"),
    ("attention_unet", {"num_feat": 4, "depth": 2}, [(2, 17, 16, 1)], "float32",
     r"x: expected height and width divisible by 4, got 17x16"),
    ("attention_unet", {"num_feat": 4}, [(2, 24, 16, 1)], "float32",
     r"x: expected height and width divisible by 16, got 24x16"),
    ("attention_unet", {"num_feat": 4, "depth": 2}, [(2, 24, 16, 3)], "float32", r"x: expected 1 channels"),
    ("multiscale_enhancer", {"num_feat": 4}, [(2, 17, 15, 3)], "float32", r"x: expected 1 channels"),
    ("multiscale_enhancer", {"num_feat": 4}, [(2, 17, 15, 1)], "int32", r"x: expected a floating-point array"),
]


@pytest.mark.parametrize("name,kwargs,shapes,dtype,message", BAD_INPUTS)
def test_bad_input(name, kwargs, shapes, dtype, message):
    jcls, tcls = FAMILY[name]
    with pytest.raises(ValueError, match=message):
        _abstract_call(jcls, kwargs, shapes, getattr(jnp, dtype))

    def nchw(s):
        if not isinstance(s, tuple):
            return s
        t_shape = (s[0], s[3], s[1], s[2]) if len(s) == 4 else (s[2], s[0], s[1]) if len(s) == 3 else s
        return torch.zeros(t_shape, dtype=getattr(torch, dtype))
    with pytest.raises(ValueError, match=message.replace("rank-4", "rank-4 NCHW")):
        tcls(**kwargs)(*[nchw(s) for s in shapes])


BAD_ARGUMENTS = [
    ("dncnn", {"act_mode": "IR"}, r"act_mode: expected one of \['R', 'BR', 'L', 'BL'\], got 'IR'"),
    ("dncnn", {"variant": "dense"}, r"variant: expected one of \['plain', 'residual', 'separable'\], got 'dense'"),
    ("dncnn", {"nb": 1}, r"nb: expected an integer >= 2, got 1"),
    ("dncnn", {"bn_settings": "tf"}, r"bn_settings: expected one of \['kair', 'pytorch'\], got 'tf'"),
    ("dncnn", {"out_nc": 3}, r"out_nc: DnCNN returns x - model\(x\), so expected out_nc == in_nc \(1\), got 3"),
    ("dncnn", {"nc": 0}, r"nc: expected an integer >= 1, got 0"),
    ("ffdnet", {"act_mode": "B"}, r"act_mode: expected one of"),
    ("ffdnet", {"nb": 0}, r"nb: expected an integer >= 2, got 0"),
    ("ffdnet", {"in_nc": 2.0}, r"in_nc: expected an integer >= 1, got 2.0"),
    ("attention_unet", {"depth": 0}, r"depth: expected an integer >= 1, got 0"),
    ("attention_unet", {"num_feat": 1}, r"num_feat: expected an integer >= 2, got 1"),
    ("attention_unet", {"output_ch": 2, "residual": True},
     r"output_ch: residual=True returns x - net\(x\), so expected output_ch == img_ch \(1\), got 2"),
    ("attention_unet", {"residual": "yes"}, r"residual: expected one of \[False, True\], got 'yes'"),
    ("multiscale_enhancer", {"in_channels": 0}, r"in_channels: expected an integer >= 1, got 0"),
    ("multiscale_enhancer", {"num_feat": True}, r"num_feat: expected an integer >= 1, got True"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD_ARGUMENTS)
def test_bad_arguments(name, kwargs, message):
    jcls, tcls = FAMILY[name]
    with pytest.raises(ValueError, match=message):
        nnx.eval_shape(lambda: jcls(**kwargs, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=message):
        tcls(**kwargs)


# ---- the official DnCNN-S (sigma 25) checkpoint, KAIR main_test_dncnn.py protocol ----

def test_official_dncnn_25_on_set12_01(shared_data):
    sd = torch.load(shared_data / "denoise" / "weights" / "dncnn_25.pth", weights_only=True, map_location="cpu")
    tm = tdncnn.DnCNN(act_mode="R")
    assert list(sd) == list(tm.state_dict())  # BN folded: model.{0,2,...,32}
    tm.load_state_dict(sd)
    tm.eval()
    with pytest.raises(ConversionError, match="does not fit DnCNN"):  # the BN layout is not the checkpoint's
        load_torch_state_dict(jdncnn.DnCNN(nb=17, rngs=nnx.Rngs(0)), sd, source="dncnn_25.pth")
    jm = load_torch_state_dict(jdncnn.DnCNN(act_mode="R", rngs=nnx.Rngs(0)), sd, source="dncnn_25.pth")

    image = Image.open(shared_data / "denoise" / "Set12" / "01.png")
    h_uint8 = np.asarray(image.convert("L"))[:, :, None]  # util.imread_uint(path, n_channels=1): [H, W, 1]
    assert image.mode == "L" and h_uint8.shape == (256, 256, 1)
    x = np.float32(h_uint8 / 255.0)  # util.uint2single
    noise = numpy_legacy_gaussian_noise(x.shape, 25, seed=0, dtype=np.float64)  # np.random.seed(0); normal
    noisy = (x + noise).astype(np.float32)  # KAIR adds in place to the float32 image: not clipped, not rounded
    with torch.no_grad():
        t_out = tm(torch.from_numpy(noisy.transpose(2, 0, 1))[None])[0].permute(1, 2, 0).numpy()
    j_out = np.asarray(jax.jit(lambda v: jm(v))(jnp.asarray(noisy)[None]))[0]
    assert_close(j_out, t_out, tolerances.MODEL, "dncnn_25.01.png", relative=True, layout="none")

    expected = json.loads((shared_data / "expected_psnr.json").read_text())["dncnn_25_set12_sigma25"]
    values = {}
    for fw, out in (("jax", j_out), ("torch", t_out)):
        # util.single2uint on the float32 image, in float32 as KAIR: pixel (31, 169) is 175.5 in float32 but
        # 175.49999714 in float64 (which the metrics' own quantisation uses: 30.207580 dB, one pixel apart)
        e_uint8 = np.uint8((np.clip(out, 0, 1) * np.float32(255.0)).round())
        mse = np.mean((e_uint8.astype(np.float64) - h_uint8.astype(np.float64)) ** 2)
        values[fw] = 20 * np.log10(255.0 / np.sqrt(mse))  # util.calculate_psnr(border=0)
        protocol = psnr_reference(e_uint8 / 255.0, x, protocol="kair_dncnn")
        assert values[fw] == pytest.approx(protocol, abs=tolerances.METRIC)
        assert abs(values[fw] - expected["per_image"]["01.png"]) <= tolerances.PSNR_PUBLISHED_DB, values
    assert abs(values["jax"] - values["torch"]) <= tolerances.PSNR_CROSS_FRAMEWORK_DB, values
    noisy_psnr = psnr_reference(noisy, x, protocol="kair_dncnn")
    assert values["jax"] > noisy_psnr + 9.0  # ~20.2 dB noisy -> ~30.2 dB denoised


def test_dncnn_bn_settings_pytorch_are_nn_batchnorm2d_defaults():
    """bn_settings='pytorch' gives every BatchNorm torch's own defaults (the design document's
    nn.BatchNorm2d(channels)); 'kair' keeps KAIR's eps 1e-4 / momentum 0.9; the JAX twin holds the same."""
    default = torch.nn.BatchNorm2d(8)
    for settings, (eps, momentum) in (("pytorch", (default.eps, default.momentum)), ("kair", (1e-4, 0.9))):
        tm = tdncnn.DnCNN(nc=8, nb=4, variant="residual", bn_settings=settings)
        jm = jdncnn.DnCNN(nc=8, nb=4, variant="residual", bn_settings=settings, rngs=nnx.Rngs(0))
        t_bns = [m for m in tm.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        j_bns = [m for _, m in nnx.iter_graph(jm) if type(m).__name__ == "BatchNorm2d"]
        assert len(t_bns) == len(j_bns) == 4
        assert all((m.eps, m.momentum) == (eps, momentum) for m in t_bns)
        assert all((float(m.eps), float(m.momentum)) == (eps, momentum) for m in j_bns)
