"""Unit tests of jrestore.core.spec: validation, registration, key aliases, argument inference, example inputs."""
import numpy as np
import pytest

from jrestore.core import spec as S


def test_builtin_specs_cover_the_zoo_and_read_their_own_fields():
    specs = S.all_specs()
    assert len(specs) == 18 and list(specs) == sorted(specs)
    ffdnet = specs["ffdnet"]
    assert ffdnet.kind == "denoise" and [e.name for e in ffdnet.extra_inputs] == ["sigma"]
    assert ffdnet.halo({"nb": 4}) == 10 and ffdnet.align({}) == 2
    assert specs["srcnn"].input_transform == "bicubic_upsample"
    assert specs["vgg19"].kind is None and specs["ista"].needs_weights is False
    assert {e.name for s in specs.values() for e in s.bench} == {
        "dncnn", "srresnet", "srgan", "ista_net_plus", "wasa", "espcn", "fsrcnn", "srcnn"}
    assert S.restorer_spec("dncnn") is specs["dncnn"]
    with pytest.raises(ValueError, match="'vgg19' is not an image-restoration model"):
        S.restorer_spec("vgg19")
    with pytest.raises(ValueError, match="'nope' is not a known model; expected one of"):
        S.get_spec("nope")


def test_spec_validation_and_duplicate_registration():
    with pytest.raises(ValueError, match="kind must be one of"):
        S.ModelSpec("m", "deblur")
    with pytest.raises(ValueError, match="input_transform must be one of"):
        S.ModelSpec("m", "sr", input_transform="lanczos")
    with pytest.raises(ValueError, match="lower-case identifier"):
        S.ModelSpec("Bad Name", "sr")
    with pytest.raises(ValueError, match="extra_inputs must be ExtraInput"):
        S.ModelSpec("m", "denoise", extra_inputs=("sigma",))
    with pytest.raises(ValueError, match="'dncnn' is already registered"):
        S.register_spec(S.ModelSpec("dncnn", "denoise"))
    with pytest.raises(ValueError, match="expected a ModelSpec"):
        S.register_spec({"name": "x"})


def test_extra_input_arrays_and_example_inputs():
    sigma = S.get_spec("ffdnet").extra_inputs[0]
    a = sigma.array(25.0, 3)
    assert a.shape == (3, 1, 1, 1) and a.dtype == np.float32 and np.all(a == np.float32(25 / 255))
    x, s = S.get_spec("ffdnet").example_inputs({"in_nc": 3}, np.random.default_rng(0), batch=2)
    assert x.shape == (2, 16, 16, 3) and 0 <= x.min() and x.max() <= 1 and s.shape == (2, 1, 1, 1)
    (blocks,) = S.get_spec("ista_net").example_inputs({"block_size": 7}, np.random.default_rng(0))
    assert blocks.shape == (1, 7, 7, 1)
    (img,) = S.get_spec("srcnn").example_inputs({"variant": "915", "padding": "valid"}, np.random.default_rng(0))
    assert img.shape == (1, 28, 28, 1)  # 16 + the 12 pixels a 'valid' 9-1-5 SRCNN removes
    (img,) = S.get_spec("vgg16").example_inputs({}, np.random.default_rng(0))
    assert img.shape[-1] == 3


class _Shape:
    def __init__(self, *shape):
        self.shape = shape


def test_rename_keys_strips_dataparallel_and_applies_aliases():
    vgg = S.get_spec("vgg16")
    state = {"module.features.0.weight": 1, "classifier.0.weight": 2, "2.bias": 3}
    assert vgg.rename_keys(state) == {"features.0.weight": 1, "features.2.bias": 3}
    assert S.get_spec("dncnn").rename_keys({"module.model.0.weight": 1}) == {"model.0.weight": 1}


def test_weights_rules_read_shapes_and_refuse_foreign_layouts():
    dncnn = S.get_spec("dncnn")
    state = {"model.0.weight": _Shape(8, 3, 3, 3), "model.0.bias": _Shape(8),
             "model.2.weight": _Shape(8, 8, 3, 3), "model.3.running_mean": _Shape(8), "model.3.weight": _Shape(8),
             "model.5.weight": _Shape(3, 8, 3, 3)}
    assert dncnn.infer_kwargs(state) == {"in_nc": 3, "out_nc": 3, "nc": 8, "nb": 3, "act_mode": "BR",
                                         "variant": "plain"}
    assert dncnn.infer_kwargs({"conv1.weight": _Shape(64, 1, 9, 9)}) == {}  # not a DnCNN: loading names the key
    assert S.ModelSpec("m", "sr").infer_kwargs(state) == {}  # no rule
    shapes = S.WeightShapes({"module.body.3.w": _Shape(1), "body.10.w": _Shape(1)})
    assert shapes.indices(r"body\.(\d+)\.w") == [3, 10] and shapes.any(r"body\..*")
    with pytest.raises(S.MissingWeight):
        shapes("head.weight")
