"""jrestore.models.vgg against literals typed from torchvision, not against its own constants (issue 17).

- ImageNet normalisation: torchvision's documented mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
  (torchvision.models VGG16_Weights / VGG19_Weights transforms, ImageClassification defaults), applied by a
  float64 NumPy normaliser, against what the first convolution sees: features[0] is set to the identity on
  its first three output channels (centre tap 1, bias 0), so the conv1_1 tap *is* the normalised input.
- Layer indices: torchvision's `vgg16().features` / `vgg19().features` index table (make_layers over cfgs
  'D' / 'E': conv, ReLU per number, MaxPool2d per 'M'), typed out as literals.
torch_ref's VGG is checked against the same literals in parity_tests/test_vgg_reference.py.
"""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers.activation import ReLU
from jrestore.layers.conv import Conv2d
from jrestore.layers.pool import MaxPool2d
from jrestore.models.vgg import VGG16, VGG19, VGG_LAYERS, tap_index
from jrestore.parity.tolerances import OP

# torchvision.transforms._presets.ImageClassification defaults, documented for the VGG ImageNet weights
TORCHVISION_IMAGENET_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision vgg16().features / vgg19().features: indices of the convolutions (their state-dict keys
# features.{i}.weight) and of the max-pools; every other index is a ReLU
TORCHVISION_CONV_INDICES = {"vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
                            "vgg19": (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)}
TORCHVISION_POOL_INDICES = {"vgg16": (4, 9, 16, 23, 30), "vgg19": (4, 9, 18, 27, 36)}
TORCHVISION_LENGTH = {"vgg16": 31, "vgg19": 37}
# the taps perceptual losses use, by their torchvision index (LPIPS, BasicSR, SRGAN's VGG54 = relu5_4 = 35,
# ESRGAN's features[:35] ends with conv5_4 = 34)
TORCHVISION_TAPS = {
    "vgg16": {"conv1_1": 0, "relu1_1": 1, "relu1_2": 3, "pool1": 4, "relu2_2": 8, "pool2": 9, "relu3_3": 15,
              "pool3": 16, "relu4_3": 22, "pool4": 23, "conv5_3": 28, "relu5_3": 29, "pool5": 30},
    "vgg19": {"conv1_1": 0, "relu1_1": 1, "relu1_2": 3, "pool1": 4, "relu2_2": 8, "pool2": 9, "relu3_4": 17,
              "pool3": 18, "relu4_4": 26, "pool4": 27, "conv5_4": 34, "relu5_4": 35, "pool5": 36},
}
ARCHS = {"vgg16": VGG16, "vgg19": VGG19}


def imagenet_normalise_float64(x_nhwc: np.ndarray) -> np.ndarray:
    """(x - mean) / std per RGB channel, in float64, with torchvision's literal constants."""
    x = np.asarray(x_nhwc, np.float64)
    return (x - np.array(TORCHVISION_IMAGENET_MEAN)) / np.array(TORCHVISION_IMAGENET_STD)


def sample_images(seed: int = 0) -> np.ndarray:
    """[2, 6, 5, 3] in [0, 1] with the extremes 0 and 1 in every channel (largest |normalised| values)."""
    x = np.random.default_rng(seed).uniform(0.0, 1.0, (2, 6, 5, 3)).astype(np.float32)
    x[0, 0, 0], x[0, 0, 1] = 0.0, 1.0
    return x


def identity_first_conv_kernel(num_feat: int) -> np.ndarray:
    """HWIO [3, 3, 3, num_feat]: output channel c < 3 copies input channel c (centre tap), the rest 0."""
    k = np.zeros((3, 3, 3, num_feat), np.float32)
    for c in range(3):
        k[1, 1, c, c] = 1.0
    return k


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_first_layer_sees_torchvision_imagenet_normalisation(arch):
    model = ARCHS[arch](num_feat=4, rngs=nnx.Rngs(0))
    model.features[0].weight[...] = jnp.asarray(identity_first_conv_kernel(4))
    model.features[0].bias[...] = jnp.zeros(4, jnp.float32)
    x = sample_images()
    got = model(jnp.asarray(x), taps=("conv1_1", "relu1_1"))
    want = imagenet_normalise_float64(x)
    atol = OP * max(1.0, np.abs(want).max())
    np.testing.assert_allclose(np.asarray(got["conv1_1"])[..., :3], want, rtol=0, atol=atol)
    np.testing.assert_array_equal(np.asarray(got["conv1_1"])[..., 3:], 0.0)
    np.testing.assert_allclose(np.asarray(got["relu1_1"])[..., :3], np.maximum(want, 0), rtol=0, atol=atol)
    # normalize=False: the first layer sees the input itself
    raw = ARCHS[arch](normalize=False, num_feat=4, rngs=nnx.Rngs(0))
    raw.features[0].weight[...] = jnp.asarray(identity_first_conv_kernel(4))
    raw.features[0].bias[...] = jnp.zeros(4, jnp.float32)
    np.testing.assert_array_equal(np.asarray(raw(jnp.asarray(x), taps="conv1_1")["conv1_1"])[..., :3], x)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_layer_table_matches_torchvision_indices(arch):
    names = VGG_LAYERS[arch]
    assert len(names) == TORCHVISION_LENGTH[arch]
    assert tuple(i for i, n in enumerate(names) if n.startswith("conv")) == TORCHVISION_CONV_INDICES[arch]
    assert tuple(i for i, n in enumerate(names) if n.startswith("pool")) == TORCHVISION_POOL_INDICES[arch]
    for name, index in TORCHVISION_TAPS[arch].items():
        assert tap_index(arch, name) == index, name
        assert names[index] == name
    # the modules sit at those indices, and the conv weights carry torchvision's state-dict keys
    model = ARCHS[arch](num_feat=2, rngs=nnx.Rngs(0))
    kinds = {i: type(model.features[i]) for i in range(TORCHVISION_LENGTH[arch])}
    assert [i for i, k in kinds.items() if k is Conv2d] == list(TORCHVISION_CONV_INDICES[arch])
    assert [i for i, k in kinds.items() if k is MaxPool2d] == list(TORCHVISION_POOL_INDICES[arch])
    assert all(k is ReLU for i, k in kinds.items()
               if i not in TORCHVISION_CONV_INDICES[arch] + TORCHVISION_POOL_INDICES[arch])
    keys = {".".join(str(p) for p in path) for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    assert keys == {f"features.{i}.{leaf}" for i in TORCHVISION_CONV_INDICES[arch] for leaf in ("weight", "bias")}
