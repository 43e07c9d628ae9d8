"""infer_kwargs: the constructor arguments a state dict implies rebuild a model with the same keys and shapes.

JAX only: state dicts come from jrestore's own models (`torch_state_dict`); torch is needed only to read the
official .pth / .pkl checkpoints in the last test, which skips without it.
"""
import pytest

import jrestore.models
from jrestore.convert import torch_state_dict
from jrestore.convert.architecture import inferable, infer_kwargs
from jrestore.core.spec import all_specs

# (name, non-default small kwargs, the inferred values that must come back[, arguments the weights do not
# determine, passed to the rebuild only to keep it fast: ISTA-Net's default 33x33 sampling matrices])
CASES = [
    ("dncnn", dict(in_nc=3, out_nc=3, nc=8, nb=5, act_mode="R"), dict(in_nc=3, nc=8, nb=5, act_mode="R", variant="plain")),
    ("dncnn", dict(nc=8, nb=4, act_mode="BR"), dict(nb=4, act_mode="BR")),
    ("dncnn", dict(nc=8, nb=4, act_mode="BR", variant="residual"), dict(nb=4, act_mode="BR", variant="residual")),
    ("dncnn", dict(nc=8, nb=3, act_mode="R", variant="separable"), dict(nb=3, act_mode="R", variant="separable")),
    ("ffdnet", dict(in_nc=3, out_nc=3, nc=8, nb=4, act_mode="BR"), dict(in_nc=3, out_nc=3, nc=8, nb=4, act_mode="BR")),
    ("ista_net", dict(num_phases=2, block_size=8), dict(num_phases=2), dict(block_size=8)),
    ("ista_net_plus", dict(num_phases=3, learn_phi=True, cs_ratio=10), dict(num_phases=3, learn_phi=True, cs_ratio=10)),
    ("ista_net", dict(num_phases=1, learn_phi=True, cs_ratio=25, block_size=8), dict(block_size=8, learn_phi=True)),
    ("srcnn", dict(num_channels=3, variant="915"), dict(num_channels=3, variant="915")),
    ("fsrcnn", dict(scale_factor=2, num_channels=3, d=8, s=4, m=2), dict(num_channels=3, d=8, s=4, m=2)),
    ("espcn", dict(scale_factor=2, num_channels=3), dict(scale_factor=2, num_channels=3)),
    ("srresnet", dict(scale=2, num_channels=1, num_feat=8, num_block=2), dict(scale=2, num_channels=1, num_feat=8, num_block=2)),
    ("wasa", dict(scale=4, num_channels=1, num_feat=8, num_block=2, reduction=4), dict(scale=4, num_feat=8, num_block=2, reduction=4)),
    ("attention_unet", dict(img_ch=2, output_ch=3, num_feat=4, depth=2), dict(img_ch=2, output_ch=3, num_feat=4, depth=2)),
    ("multiscale_enhancer", dict(in_channels=3, num_feat=4), dict(in_channels=3, num_feat=4)),
    ("vgg16", dict(num_feat=4), dict(num_feat=4)),
    ("vgg19", dict(num_feat=4), dict(num_feat=4)),
    ("srgan_discriminator", dict(num_channels=1, num_feat=4, input_size=32), dict(num_channels=1, num_feat=4, input_size=32)),
    ("msrresnet", dict(num_in_ch=1, num_out_ch=2, num_feat=8, num_block=2, upscale=3),
     dict(num_in_ch=1, num_out_ch=2, num_feat=8, num_block=2, upscale=3)),
    ("msrresnet", dict(num_feat=8, num_block=1, upscale=4), dict(num_feat=8, num_block=1, upscale=4)),
    ("vgg_style_discriminator", dict(num_in_ch=1, num_feat=4, input_size=256), dict(num_in_ch=1, num_feat=4, input_size=256)),
]


def _shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_inferred_kwargs_rebuild_identical_keys_and_shapes(case):
    name, kwargs, expected, fixed = (*case, {})[:4]
    state = torch_state_dict(jrestore.models.get(name, **kwargs))
    inferred = infer_kwargs(name, state)
    assert expected.items() <= inferred.items(), inferred
    assert not fixed.keys() & inferred.keys()
    assert _shapes(torch_state_dict(jrestore.models.get(name, **fixed, **inferred))) == _shapes(state)


def test_every_model_with_weights_has_a_rule():
    learned = [name for name, spec in all_specs().items() if spec.needs_weights]
    assert sorted(learned) == sorted(inferable())


@pytest.mark.parametrize("name", inferable())
def test_each_rule_rebuilds_its_parity_case_model(name):
    """Every rule, on the model its spec's small parity case builds: the inferred arguments rebuild the same
    keys and shapes (a new model is covered here without editing this file)."""
    spec = all_specs()[name]
    small = dict(spec.parity.small) if spec.parity is not None else {}
    state = torch_state_dict(jrestore.models.get(name, **small))
    inferred = infer_kwargs(name, state)
    assert inferred, name
    assert all(inferred[k] == small[k] for k in inferred.keys() & small.keys()), (inferred, small)
    # what the weights do not determine (ISTA-Net's block size without a learned Phi) stays as given
    rebuilt = torch_state_dict(jrestore.models.get(name, **{**small, **inferred}))
    assert _shapes(rebuilt) == _shapes(state)


def test_unknown_names_other_models_and_undeterminable_sizes():
    state = torch_state_dict(jrestore.models.get("espcn"))
    assert infer_kwargs("no_such_model", state) == {}
    assert infer_kwargs("dncnn", state) == {}  # not a DnCNN layout: loading reports the first bad key
    d = torch_state_dict(jrestore.models.get("srgan_discriminator", num_feat=4, input_size=(32, 48)))
    assert "input_size" not in infer_kwargs("srgan_discriminator", d)  # a 2x3 feature map: not square
    ista = jrestore.models.get("ista_net", num_phases=2, block_size=8)
    prefixed = {"module." + k: v for k, v in torch_state_dict(ista).items()}
    assert infer_kwargs("ista_net", prefixed) == {"num_phases": 2}


def test_official_checkpoints(shared_data):
    torch = pytest.importorskip("torch", reason="the official checkpoints are PyTorch pickles")
    dncnn = torch.load(shared_data / "denoise" / "weights" / "dncnn_25.pth", weights_only=True, map_location="cpu")
    assert infer_kwargs("dncnn", dncnn) == {"in_nc": 1, "out_nc": 1, "nc": 64, "nb": 17, "act_mode": "R",
                                            "variant": "plain"}
    fsrcnn = torch.load(shared_data / "sr" / "weights" / "fsrcnn_x3.pth", weights_only=True, map_location="cpu")
    assert infer_kwargs("fsrcnn", fsrcnn) == {"num_channels": 1, "d": 56, "s": 12, "m": 4}
    pkls = sorted((shared_data / "cs" / "ista_net" / "model").glob("*/net_params_200.pkl"))
    assert len(pkls) == 3
    for pkl in pkls:
        name = "ista_net_plus" if "Net_plus" in pkl.parent.name else "ista_net"
        assert infer_kwargs(name, torch.load(pkl, weights_only=True, map_location="cpu")) == {"num_phases": 9}
