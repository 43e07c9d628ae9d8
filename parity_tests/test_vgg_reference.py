"""torch_ref's VGG against torchvision's literal ImageNet constants and layer indices (typed out in
jrestore/models/vgg_test.py), not against jrestore: torch_ref imports jrestore.models.vgg's constants and
index table, so a parity test cannot see a wrong value there; this one can.
"""
import numpy as np
import pytest
import torch

import torch_ref.models.vgg as tvgg
from jrestore.models.vgg_test import (TORCHVISION_CONV_INDICES, TORCHVISION_LENGTH, TORCHVISION_POOL_INDICES,
                                      TORCHVISION_TAPS, identity_first_conv_kernel, imagenet_normalise_float64,
                                      sample_images)
from jrestore.parity.harness import to_nchw, torch_input
from jrestore.parity.tolerances import OP

ARCHS = {"vgg16": tvgg.VGG16, "vgg19": tvgg.VGG19}


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_first_layer_sees_torchvision_imagenet_normalisation(arch):
    model = ARCHS[arch](num_feat=4).eval()
    with torch.no_grad():  # identity on output channels 0..2: the conv1_1 tap is the normalised input
        model.features[0].weight.copy_(torch.from_numpy(identity_first_conv_kernel(4).transpose(3, 2, 0, 1).copy()))
        model.features[0].bias.zero_()
        x = sample_images()
        got = model(torch_input(x), taps=("conv1_1", "relu1_1"))
    want = to_nchw(imagenet_normalise_float64(x))
    atol = OP * max(1.0, np.abs(want).max())
    np.testing.assert_allclose(got["conv1_1"][:, :3].numpy(), want, rtol=0, atol=atol)
    np.testing.assert_array_equal(got["conv1_1"][:, 3:].numpy(), 0.0)
    np.testing.assert_allclose(got["relu1_1"][:, :3].numpy(), np.maximum(want, 0), rtol=0, atol=atol)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_layer_indices_match_torchvision(arch):
    model = ARCHS[arch](num_feat=2)
    kinds = [type(m) for m in model.features]
    assert len(kinds) == TORCHVISION_LENGTH[arch]
    assert [i for i, k in enumerate(kinds) if k is torch.nn.Conv2d] == list(TORCHVISION_CONV_INDICES[arch])
    assert [i for i, k in enumerate(kinds) if k is torch.nn.MaxPool2d] == list(TORCHVISION_POOL_INDICES[arch])
    assert {k for k in model.state_dict()} == {f"features.{i}.{leaf}" for i in TORCHVISION_CONV_INDICES[arch]
                                               for leaf in ("weight", "bias")}
    # a tap by name returns the output of the torchvision index it names
    x = torch_input(sample_images(1)[:, :4, :4])
    with torch.no_grad():
        by_name = model(x, taps=tuple(n for n, i in TORCHVISION_TAPS[arch].items() if i < 10))
        h = x
        if model.normalize:
            h = (h - model.mean) / model.std
        for i in range(10):
            h = model.features[i](h)
            name = [n for n, j in TORCHVISION_TAPS[arch].items() if j == i]
            if name:
                torch.testing.assert_close(by_name[name[0]], h, rtol=0, atol=0)
