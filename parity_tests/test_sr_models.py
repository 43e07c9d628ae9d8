"""Classic super-resolution family (SRCNN, FSRCNN, ESPCN, SRResNet, SRGAN discriminator).

The registered cases (the `parity` of each spec in jrestore/core/models/) run in test_models_parity.py. Here: parity of further
variants (other SRCNN layouts, FSRCNN scales, SRResNet x2, D with a square input and with calibrated BN),
output shapes, bad input and arguments in both frameworks, the initialisation distributions, checkpoint
key layouts, and the official FSRCNN x3 checkpoint on Set5 under the yjn870/FSRCNN-pytorch protocol
against expected_psnr.json.
"""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from PIL import Image

import jrestore.models.basicsr_sr as jbasicsr
import jrestore.models.espcn as jespcn
import jrestore.models.srcnn as jsrcnn
import jrestore.models.srresnet as jsrresnet
import torch_ref.models.basicsr_sr as tbasicsr
import torch_ref.models.espcn as tespcn
import torch_ref.models.srcnn as tsrcnn
import torch_ref.models.srresnet as tsrresnet
from jrestore.convert import load_torch_state_dict, torch_state_dict
from jrestore.parity import tolerances
from jrestore.parity.cases import all_cases
from jrestore.parity.harness import assert_close, calibrate_batchnorm_, perturb_, torch_input
from jrestore.parity.model_parity import compare_model

FAMILY = {"srcnn": (jsrcnn.SRCNN, tsrcnn.SRCNN), "fsrcnn": (jsrcnn.FSRCNN, tsrcnn.FSRCNN),
          "espcn": (jespcn.ESPCN, tespcn.ESPCN), "srresnet": (jsrresnet.SRResNet, tsrresnet.SRResNet),
          "srgan_discriminator": (jsrresnet.SRGANDiscriminator, tsrresnet.SRGANDiscriminator),
          "msrresnet": (jbasicsr.MSRResNet, tbasicsr.MSRResNet),
          "vgg_style_discriminator": (jbasicsr.VGGStyleDiscriminator, tbasicsr.VGGStyleDiscriminator)}
CASES = {name: case for name, case in all_cases().items() if name in FAMILY}
# BasicSR's discriminator fixes the input height (128 or 256): its case is odd in the width instead
FIXED_HEIGHT = {"vgg_style_discriminator"}


def _fmt(result):
    return {k: (v["first_bad"], v["max_abs"], v["max_rel"]) for k, v in result.items()
            if isinstance(v, dict) and not v["ok"]}


def _images(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.1, 1.1, shape).astype(np.float32)


# ---- parity beyond the registered cases (those run in test_models_parity.py) ----

def test_cases_cover_the_family_and_batchnorm():
    assert sorted(CASES) == sorted(FAMILY)
    for name, case in CASES.items():
        has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in FAMILY[name][1](**case.small).modules())
        assert case.train_mode == has_bn, name
        shapes = [x.shape for x in case.inputs(np.random.default_rng(0), False)]
        odd = 2 if name in FIXED_HEIGHT else 1
        assert all(s[0] >= 2 and s[1] != s[2] and s[odd] % 2 for s in shapes), (name, shapes)


VARIANTS = [  # eval only: BN train mode, gradients and Adam run in the registered cases
    ("srcnn", {"variant": "955", "padding": "valid"}, (2, 21, 18, 1)),
    ("srcnn", {"variant": "915", "padding": "same", "num_channels": 3}, (2, 9, 7, 3)),
    ("fsrcnn", {"scale_factor": 4, "num_channels": 3, "d": 8, "s": 4, "m": 0}, (2, 7, 6, 3)),
    ("fsrcnn", {"scale_factor": 3, "d": 8, "s": 4, "m": 1, "prelu_split": True}, (2, 7, 6, 1)),  # int8's ReLU form
    ("espcn", {"scale_factor": 3}, (2, 7, 6, 1)),
    ("espcn", {"scale_factor": 2, "activation": "relu"}, (2, 7, 6, 1)),  # the design document's ESPCN
    ("srresnet", {"scale": 2, "num_feat": 8, "num_block": 1}, (2, 9, 7, 3)),
    ("srresnet", {"scale": 8, "num_feat": 4, "num_block": 1}, (1, 5, 4, 3)),  # three x2 sub-pixel blocks
]


@pytest.mark.parametrize("name,kwargs,shape", VARIANTS)
def test_variant_eval_parity(name, kwargs, shape):
    result = compare_model(name, kwargs, (_images(3, shape),), seed=3, train_mode=False, grad=False)
    assert result["ok"], _fmt(result)
    assert result["eval"]["leaves"]["eval"]["scale"] > 0


def test_discriminator_eval_with_calibrated_batchnorm():
    """With default init and perturbed running statistics the deep features of D are nearly constant, so
    the eval case barely depends on the input. Here BN running statistics are set to the statistics of
    the batch itself (momentum 1 for one train pass), which makes the eval logits depend on the input."""
    kwargs = CASES["srgan_discriminator"].small  # same shapes as the registered case: shared compilations
    torch.manual_seed(5)
    tm = perturb_(tsrresnet.SRGANDiscriminator(**kwargs), 5)
    x = _images(5, (3, *tm.input_size, 3))
    with torch.no_grad():
        logits = calibrate_batchnorm_(tm, torch_input(x))(torch_input(x))[:, 0]
    assert float(logits.max() - logits.min()) > 1e-2 * float(logits.abs().max()), logits
    result = compare_model("srgan_discriminator", kwargs, (x,), train_mode=False, grad=False,
                           weights=tm.state_dict())
    assert result["ok"], _fmt(result)


# ---- shapes (abstract evaluation: no compilation) ----

def _abstract_call(cls, kwargs, shape, dtype=jnp.float32):
    model = nnx.eval_shape(lambda: cls(**kwargs, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(model)
    out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, jax.ShapeDtypeStruct(shape, dtype))
    return tuple(out.shape)


@pytest.mark.parametrize("name,kwargs,shape,expected", [
    ("srcnn", {}, (2, 17, 15, 1), (2, 17, 15, 1)),
    ("srcnn", {"variant": "915", "padding": "valid"}, (2, 17, 15, 1), (2, 5, 3, 1)),
    ("srcnn", {"variant": "955", "padding": "valid"}, (2, 17, 19, 1), (2, 1, 3, 1)),
    ("fsrcnn", {"scale_factor": 3}, (2, 9, 7, 1), (2, 27, 21, 1)),
    ("fsrcnn", {"scale_factor": 4, "num_channels": 3}, (1, 5, 6, 3), (1, 20, 24, 3)),
    ("espcn", {"scale_factor": 3, "num_channels": 3}, (2, 9, 7, 3), (2, 27, 21, 3)),
    ("srresnet", {}, (2, 9, 7, 3), (2, 36, 28, 3)),
    ("srresnet", {"scale": 2, "num_channels": 1}, (2, 9, 7, 1), (2, 18, 14, 1)),
    ("srgan_discriminator", {}, (2, 96, 96, 3), (2, 1)),
    ("srgan_discriminator", {"input_size": (25, 15), "num_channels": 1}, (3, 25, 15, 1), (3, 1)),
])
def test_output_shapes(name, kwargs, shape, expected):
    jcls, tcls = FAMILY[name]
    assert _abstract_call(jcls, kwargs, shape) == expected
    with torch.no_grad():
        t_out = tcls(**kwargs).eval()(torch.zeros(shape[0], shape[3], shape[1], shape[2]))
    assert tuple(t_out.shape) == (expected if len(expected) == 2 else
                                  (expected[0], expected[3], expected[1], expected[2]))


def test_discriminator_dense_size_follows_input_size():
    # n -> floor((n + 2 - 3) / 2) + 1 four times: 96 -> 6, 25 -> 2, 15 -> 1, 17 -> 2, 1 -> 1
    assert jsrresnet.discriminator_feature_size(96) == (6, 6)
    assert jsrresnet.discriminator_feature_size((25, 15)) == (2, 1)
    assert jsrresnet.discriminator_feature_size((17, 1)) == (2, 1)
    assert tsrresnet.SRGANDiscriminator().classifier[0].weight.shape == (1024, 512 * 6 * 6)
    assert tsrresnet.SRGANDiscriminator(num_feat=8, input_size=(25, 15)).classifier[0].weight.shape == (1024, 64 * 2)


# ---- bad input and bad arguments, both frameworks ----

BAD_INPUTS = [
    # (name, kwargs, NHWC shape, dtype, message)
    ("srcnn", {}, (2, 17, 15, 3), "float32", r"x: expected 1 channels"),
    ("srcnn", {"variant": "915", "padding": "valid"}, (2, 12, 20, 1), "float32",
     r"x: expected height and width of at least 13, got 12x20"),
    ("srcnn", {"variant": "955", "padding": "valid"}, (2, 16, 20, 1), "float32",
     r"x: expected height and width of at least 17, got 16x20"),
    ("srcnn", {}, (2, 17, 15, 1), "int32", r"x: expected a floating-point array"),
    ("fsrcnn", {}, (17, 15, 1), "float32", r"x: expected a rank-4"),  # no batch axis
    ("fsrcnn", {}, (2, 9, 7, 3), "float32", r"x: expected 1 channels"),
    ("espcn", {"num_channels": 3}, (2, 9, 7, 1), "float32", r"x: expected 3 channels"),
    ("srresnet", {}, (2, 9, 7, 1), "float32", r"x: expected 3 channels"),
    ("srresnet", {}, (2, 9, 7, 3), "int32", r"x: expected a floating-point array"),
    ("srgan_discriminator", {}, (2, 64, 64, 3), "float32",
     r"x: expected 96x96 inputs \(input_size=\(96, 96\); the dense layer fixes the size\), got 64x64"),
    ("srgan_discriminator", {"input_size": (25, 15)}, (2, 15, 25, 3), "float32",
     r"x: expected 25x15 inputs .* got 15x25"),
    ("srgan_discriminator", {}, (2, 96, 96, 1), "float32", r"x: expected 3 channels"),
]


@pytest.mark.parametrize("name,kwargs,shape,dtype,message", BAD_INPUTS)
def test_bad_input(name, kwargs, shape, dtype, message):
    jcls, tcls = FAMILY[name]
    with pytest.raises(ValueError, match=message):
        _abstract_call(jcls, kwargs, shape, getattr(jnp, dtype))
    t_shape = (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else (shape[2], shape[0], shape[1])
    with pytest.raises(ValueError, match=message.replace("rank-4", "rank-4 NCHW")):
        tcls(**kwargs)(torch.zeros(t_shape, dtype=getattr(torch, dtype)))


BAD_ARGUMENTS = [
    ("srcnn", {"variant": "935"}, r"variant: expected one of \['915', '955'\], got '935'"),
    ("srcnn", {"padding": "full"}, r"padding: expected one of \['same', 'valid'\], got 'full'"),
    ("srcnn", {"num_channels": 0}, r"num_channels: expected an integer >= 1, got 0"),
    ("fsrcnn", {"scale_factor": 0}, r"scale_factor: expected an integer >= 1, got 0"),
    ("fsrcnn", {"scale_factor": 2.5}, r"scale_factor: expected an integer >= 1, got 2.5"),
    ("fsrcnn", {"m": -1}, r"m: expected an integer >= 0, got -1"),
    ("fsrcnn", {"prelu_split": "yes"}, r"prelu_split: expected True or False, got 'yes'"),
    ("espcn", {"scale_factor": 0}, r"scale_factor: expected an integer >= 1, got 0"),
    ("srresnet", {"scale": 3}, r"scale: expected one of \[2, 4, 8\], got 3"),
    ("srresnet", {"scale": 16}, r"scale: expected one of \[2, 4, 8\], got 16"),
    ("srresnet", {"num_block": -1}, r"num_block: expected an integer >= 0, got -1"),
    ("srgan_discriminator", {"input_size": 0}, r"input_size: expected positive sizes, got 0"),
    ("srgan_discriminator", {"input_size": (96, 96, 3)}, r"input_size: expected an int or a pair of ints"),
    ("srgan_discriminator", {"num_feat": 0}, r"num_feat: expected an integer >= 1, got 0"),
]


@pytest.mark.parametrize("name,kwargs,message", BAD_ARGUMENTS)
def test_bad_arguments(name, kwargs, message):
    jcls, tcls = FAMILY[name]
    with pytest.raises(ValueError, match=message):
        nnx.eval_shape(lambda: jcls(**kwargs, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=message):
        tcls(**kwargs)


# ---- initialisation: the reference's distributions in both frameworks ----

def _check_normal(w: np.ndarray, std: float, what: str):
    """Sample mean and std of `w` against N(0, std^2), within INIT_STAT_Z standard errors of each estimate."""
    n = w.size
    z = tolerances.INIT_STAT_Z
    assert abs(w.mean()) < z * std / math.sqrt(n), f"{what}: mean {w.mean():.3g}, std {std:.3g}, n {n}"
    assert abs(w.std() / std - 1) < z / math.sqrt(2 * n), f"{what}: std {w.std():.4g}, expected {std:.4g}, n {n}"


def _init_cases():
    """(name, kwargs, {torch key of a weight: expected std}) for the reference-specific inits."""
    def he(out, k):
        return math.sqrt(2.0 / (out * k * k))
    fsrcnn = {"first_part.0.weight": he(56, 5), "mid_part.0.weight": he(12, 1), "mid_part.2.weight": he(12, 3),
              "mid_part.8.weight": he(12, 3), "mid_part.10.weight": he(56, 1), "last_part.weight": 0.001}
    espcn = {"first_part.0.weight": he(64, 5), "first_part.2.weight": he(32, 3), "last_part.0.weight": 0.001}
    srresnet = {"conv_block1.0.weight": math.sqrt(2 / (3 * 81)), "trunk.0.rcb.0.weight": math.sqrt(2 / (64 * 9)),
                "trunk.15.rcb.3.weight": math.sqrt(2 / (64 * 9)), "conv_block2.0.weight": math.sqrt(2 / (64 * 9)),
                "upsampling.1.upsample_block.0.weight": math.sqrt(2 / (64 * 9)),
                "conv_block3.weight": math.sqrt(2 / (64 * 81))}
    return [("fsrcnn", {}, fsrcnn), ("espcn", {}, espcn), ("srresnet", {}, srresnet)]


@pytest.mark.parametrize("name,kwargs,stds", _init_cases())
def test_initialisation_distributions(name, kwargs, stds):
    jcls, tcls = FAMILY[name]
    torch.manual_seed(0)
    tm = tcls(**kwargs)
    prelus = {f"{n}.weight" for n, m in tm.named_modules() if isinstance(m, torch.nn.PReLU)}
    assert bool(prelus) == (name != "espcn")
    sds = {"torch": {k: v.numpy() for k, v in tm.state_dict().items()},
           "jax": torch_state_dict(jcls(**kwargs, rngs=nnx.Rngs(0)))}
    for fw, sd in sds.items():
        for key, std in stds.items():
            _check_normal(np.asarray(sd[key], np.float64), std, f"{fw} {key}")
        for key, value in sd.items():
            if key.endswith(".bias"):  # conv biases (and BN shifts) start at zero
                assert not np.any(value), f"{fw} {key}"
            if key in prelus:
                assert np.all(value == 0.25), f"{fw} {key}: PReLU slopes start at PyTorch's 0.25"


# ---- checkpoint layouts ----

def test_srresnet_and_discriminator_keys_follow_lornatang_layout():
    sd = tsrresnet.SRResNet(num_block=2).state_dict()
    for key in ("conv_block1.0.weight", "conv_block1.0.bias", "conv_block1.1.weight", "trunk.1.rcb.0.weight",
                "trunk.1.rcb.1.running_var", "trunk.1.rcb.2.weight", "trunk.1.rcb.4.bias", "conv_block2.0.weight",
                "conv_block2.1.num_batches_tracked", "upsampling.1.upsample_block.0.bias",
                "upsampling.1.upsample_block.2.weight", "conv_block3.weight"):
        assert key in sd, key
    assert "trunk.1.rcb.0.bias" not in sd and sd["conv_block1.1.weight"].shape == (1,)
    d = tsrresnet.SRGANDiscriminator().state_dict()
    assert [k for k in d if k.endswith("weight") and d[k].ndim == 4] == [f"features.{i}.weight" for i in
                                                                         (0, 2, 5, 8, 11, 14, 17, 20)]
    assert d["classifier.2.weight"].shape == (1, 1024)


# ---- official FSRCNN x3 checkpoint on Set5 (yjn870/FSRCNN-pytorch test.py protocol) ----
#
# yjn870's test.py does not crop: it *resizes* the full image with PIL bicubic to the nearest smaller multiple
# of 3 (`image.resize((w // 3 * 3, h // 3 * 3), BICUBIC)`), then makes LR = PIL bicubic / 3 of that. The
# published per-image values are reproduced only from the uncropped Set5 originals; in ../shared/data these
# are the image_SRF_2 (= image_SRF_4) HR files, as every Set5 size is a multiple of 4. The mod-3-cropped
# image_SRF_3 HR files give 35.06 / 35.15 / 27.86 / 33.65 / 31.25 dB instead (only bird, 288x288, agrees).

SET5 = ("baby", "bird", "butterfly", "head", "woman")


def _y(rgb_uint8) -> np.ndarray:
    """yjn870 convert_rgb_to_y on float32 0..255 RGB, then / 255: [H, W] float32."""
    img = np.asarray(rgb_uint8).astype(np.float32)
    y = 16.0 + (64.738 * img[..., 0] + 129.057 * img[..., 1] + 25.064 * img[..., 2]) / 256.0
    return (y / 255.0).astype(np.float32)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10.0 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def test_official_fsrcnn_x3_set5_psnr(shared_data):
    sd = torch.load(shared_data / "sr" / "weights" / "fsrcnn_x3.pth", weights_only=True, map_location="cpu")
    tm = tsrcnn.FSRCNN(scale_factor=3)
    assert list(sd) == list(tm.state_dict())
    tm.load_state_dict(sd)
    tm.eval()
    jm = load_torch_state_dict(jsrcnn.FSRCNN(scale_factor=3, rngs=nnx.Rngs(0)), sd, source="fsrcnn_x3.pth")
    run = nnx.jit(lambda m, x: m(x))
    expected = json.loads((shared_data / "expected_psnr.json").read_text())["fsrcnn_x3_set5"]
    set5 = shared_data / "sr" / "Set5"
    psnr = {"jax": [], "torch": []}
    for i, name in enumerate(SET5):
        image = Image.open(set5 / "image_SRF_2" / f"img_00{i + 1}_SRF_2_HR.png").convert("RGB")
        assert image.size == Image.open(set5 / "image_SRF_4" / f"img_00{i + 1}_SRF_4_HR.png").size  # uncropped
        w, h = (image.width // 3) * 3, (image.height // 3) * 3
        hr = image.resize((w, h), resample=Image.BICUBIC)
        lr = hr.resize((w // 3, h // 3), resample=Image.BICUBIC)  # PIL on uint8: that is the protocol
        lr_y, hr_y = _y(lr), _y(hr)
        with torch.no_grad():
            t_out = tm(torch.from_numpy(lr_y)[None, None]).clamp(0.0, 1.0)[0, 0].numpy()
        j_out = np.asarray(jnp.clip(run(jm, jnp.asarray(lr_y)[None, :, :, None]), 0.0, 1.0))[0, :, :, 0]
        assert j_out.shape == hr_y.shape
        assert_close(j_out, t_out, tolerances.MODEL, f"fsrcnn_x3.{name}", relative=True, layout="none")
        for fw, out in (("jax", j_out), ("torch", t_out)):
            psnr[fw].append(_psnr(out, hr_y))
            assert abs(psnr[fw][-1] - expected["per_image"][name]) <= tolerances.PSNR_PUBLISHED_DB, (fw, name, psnr[fw])
        assert abs(psnr["jax"][-1] - psnr["torch"][-1]) <= tolerances.PSNR_CROSS_FRAMEWORK_DB, psnr
    for fw in psnr:
        assert abs(np.mean(psnr[fw]) - expected["mean"]) <= tolerances.PSNR_PUBLISHED_MEAN_DB, (fw, psnr[fw])


def test_official_fsrcnn_loads_into_its_prelu_split_form_as_the_same_function(shared_data):
    """prelu_split (the int8 form: ReLU on doubled widths) of the official x3 weights, converted by the spec's
    state_rule in every loader, against the PReLU network itself, in each framework and across them."""
    import jrestore
    import torch_ref
    from jrestore.inference import build_task

    path = shared_data / "sr" / "weights" / "fsrcnn_x3.pth"
    lr = _y(Image.open(shared_data / "sr" / "Set5" / "image_SRF_2" / "img_001_SRF_2_HR.png").convert("RGB")
            .resize((60, 48), resample=Image.BICUBIC))
    split_t = torch_ref.load(path, model="fsrcnn", prelu_split=True)
    assert split_t.first_part[0].weight.shape == (112, 1, 5, 5) and isinstance(split_t.first_part[1], torch.nn.ReLU)
    assert not {"first_part.1.weight", "mid_part.1.weight"} & set(split_t.state_dict())
    with torch.no_grad():
        t = torch.from_numpy(lr)[None, None]
        want_t = torch_ref.load(path, model="fsrcnn")(t)[0, 0].numpy()
        got_t = split_t(t)[0, 0].numpy()
    x = jnp.asarray(lr)[None, :, :, None]
    want_j = np.asarray(jrestore.load(path, model="fsrcnn")(x))[0, :, :, 0]
    got_j = np.asarray(jrestore.load(path, model="fsrcnn", prelu_split=True)(x))[0, :, :, 0]
    task = build_task("fsrcnn", str(path), scale=3, model_kwargs={"prelu_split": True})
    for fw, got, want in (("torch", got_t, want_t), ("jax", got_j, want_j),
                          ("task.jax", task.forwards["jax"](lr[:, :, None])[..., 0], want_j),
                          ("task.torch", task.forwards["torch"](lr[:, :, None])[..., 0], want_t)):
        assert_close(got, want, tolerances.MODEL, f"fsrcnn prelu_split {fw}", relative=True, layout="none")
    assert_close(got_j, got_t, tolerances.MODEL, "fsrcnn prelu_split jax/torch", relative=True, layout="none")


def test_espcn_relu_is_the_design_documents_forward():
    """activation='relu' computes seed 002's ESPCN.forward (relu(conv1), relu(conv2), conv3, pixel_shuffle),
    written out with torch.nn.functional on the twin's own weights; the default stays tanh, and an unknown
    activation is one ValueError in both frameworks."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    tm = perturb_(tespcn.ESPCN(scale_factor=2, activation="relu"), 0).eval()
    x = torch_input(_images(4, (2, 9, 7, 1)))
    c1, c2, c3 = tm.first_part[0], tm.first_part[2], tm.last_part[0]
    with torch.no_grad():
        h = F.relu(F.conv2d(x, c1.weight, c1.bias, padding=2))
        h = F.relu(F.conv2d(h, c2.weight, c2.bias, padding=1))
        expected = F.pixel_shuffle(F.conv2d(h, c3.weight, c3.bias, padding=1), 2)
        assert torch.equal(tm(x), expected)
        tanh = tespcn.ESPCN(scale_factor=2)
        tanh.load_state_dict(tm.state_dict())
        assert (tanh.eval()(x) - expected).abs().max() > tolerances.LAYER  # the option changes the network
    for make in (lambda: tespcn.ESPCN(activation="gelu"), lambda: jespcn.ESPCN(activation="gelu", rngs=nnx.Rngs(0))):
        with pytest.raises(ValueError, match="activation"):
            make()


def test_srresnet_loads_lornatangs_current_layout_through_its_key_aliases(tmp_path):
    """A state dict in Lornatang/SRGAN-PyTorch's current names (conv1 / conv2 / conv3 for our conv_block1/2/3)
    restores through `jrestore restore` and loads with jrestore.load and torch_ref.load, giving the outputs of
    the model it was renamed from."""
    import jrestore
    import torch_ref
    from jrestore.core.spec import get_spec

    torch.manual_seed(0)
    tm = perturb_(tsrresnet.SRResNet(scale=8, num_feat=4, num_block=1), 0).eval()
    ours = tm.state_dict()
    theirs = {("conv" + k[len("conv_block"):] if k.startswith("conv_block") else k): v for k, v in ours.items()}
    assert "conv1.0.weight" in theirs and "conv3.weight" in theirs and not any(k.startswith("conv_block") for k in theirs)
    assert get_spec("srresnet").rename_keys(theirs).keys() == ours.keys()
    torch.save(theirs, tmp_path / "lornatang_x8.pth")
    x = _images(6, (1, 5, 4, 3))
    with torch.no_grad():
        expected = tm(torch_input(x)).numpy()
    loaded_t = torch_ref.load(tmp_path / "lornatang_x8.pth", model="srresnet")
    with torch.no_grad():
        assert torch.equal(loaded_t.eval()(torch_input(x)), torch.from_numpy(expected))
    loaded_j = jrestore.load(tmp_path / "lornatang_x8.pth", model="srresnet")
    got = np.asarray(loaded_j(jnp.asarray(x))).transpose(0, 3, 1, 2)
    assert np.abs(got - expected).max() <= tolerances.MODEL * max(1.0, np.abs(expected).max())
    assert loaded_j.scale == 8  # read from the weights: three upsampling blocks
