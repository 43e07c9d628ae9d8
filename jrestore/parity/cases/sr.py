"""Parity cases for the classic super-resolution family (jrestore.models.srcnn, .espcn, .srresnet, .basicsr_sr)."""
import numpy as np

import jrestore.models.basicsr_sr  # noqa: F401  (registers the jrestore twins)
import jrestore.models.espcn  # noqa: F401
import jrestore.models.srcnn  # noqa: F401
import jrestore.models.srresnet  # noqa: F401
import torch_ref.models.basicsr_sr  # noqa: F401  (registers the torch_ref twins)
import torch_ref.models.espcn  # noqa: F401
import torch_ref.models.srcnn  # noqa: F401
import torch_ref.models.srresnet  # noqa: F401
from jrestore.parity.model_parity import ModelCase


def _images(rng, shape):
    # Values mostly in [0, 1] with a few outside it, as real SR outputs and pre-upsampled inputs have.
    return rng.uniform(-0.1, 1.1, shape).astype(np.float32)


def _srcnn(rng, full):
    return (_images(rng, (1, 24, 20, 1) if full else (2, 17, 15, 1)),)


def _fsrcnn(rng, full):
    return (_images(rng, (1, 12, 10, 1) if full else (2, 9, 7, 1)),)


def _espcn(rng, full):
    return (_images(rng, (1, 12, 10, 1) if full else (2, 9, 7, 3)),)


def _srresnet(rng, full):
    return (_images(rng, (1, 12, 12, 3) if full else (2, 9, 7, 3)),)


def _discriminator(rng, full):
    return (_images(rng, (1, 96, 96, 3) if full else (2, 25, 15, 3)),)


def _msrresnet(rng, full):
    return (_images(rng, (1, 16, 12, 3) if full else (2, 9, 7, 3)),)


def _vgg_style_discriminator(rng, full):
    # BasicSR fixes the height to input_size; an odd width (131 -> 65 -> 32 -> ... -> 4) exercises the 4x4
    # stride-2 convs on odd sizes, where XLA 'SAME' would differ from PyTorch's padding 1.
    return (_images(rng, (1, 128, 128, 3) if full else (2, 128, 131, 3)),)


CASES = {
    # 9-1-5 'valid' (the paper's network): 17x15 -> 5x3; full: the yjn870 9-5-5 'same' default.
    "srcnn": ModelCase(small={"variant": "915", "padding": "valid"}, full={}, inputs=_srcnn, train_mode=False),
    "fsrcnn": ModelCase(small={"scale_factor": 3, "d": 8, "s": 4, "m": 1}, full={}, inputs=_fsrcnn,
                        train_mode=False),
    # three channels exercise the pixel-shuffle channel order
    "espcn": ModelCase(small={"scale_factor": 2, "num_channels": 3}, full={}, inputs=_espcn, train_mode=False),
    "srresnet": ModelCase(small={"scale": 4, "num_feat": 8, "num_block": 2}, full={}, inputs=_srresnet),
    # 25x15 -> last feature map 2x1 (non-square, so a swapped flatten order would show)
    "srgan_discriminator": ModelCase(small={"num_feat": 8, "input_size": (25, 15)}, full={}, inputs=_discriminator),
    # BasicSR layout; x4 exercises both pixel-shuffle stages and the bilinear base (no BN: no train-mode check)
    "msrresnet": ModelCase(small={"upscale": 4, "num_feat": 8, "num_block": 2}, full={}, inputs=_msrresnet,
                           train_mode=False),
    "vgg_style_discriminator": ModelCase(small={"num_feat": 8, "input_size": 128}, full={},
                                         inputs=_vgg_style_discriminator),
}
