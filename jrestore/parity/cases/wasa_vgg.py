"""Parity cases for the wavelet-attention SR network (jrestore.models.wasa) and the VGG feature extractors
(jrestore.models.vgg).

WASA needs even sizes (the DWT halves them): the small case takes 10x6 (non-square, batch 2, 3 channels so
the bicubic skip and the pixel-shuffle order both show); the full case is the default 64 features and
16 blocks on 12x8. The self-attention's gamma starts at 0, which would hide the attention branch: the
harness perturbs every parameter, gamma included. VGG cases tap a conv before its ReLU (conv5_4 /
conv5_3) next to relu taps, and use odd sizes so the floor-mode pools drop rows and columns.
"""
import numpy as np

import jrestore.models.vgg  # noqa: F401  (registers the jrestore twins)
import jrestore.models.wasa  # noqa: F401
import torch_ref.models.vgg  # noqa: F401  (registers the torch_ref twins)
import torch_ref.models.wasa  # noqa: F401
from jrestore.parity.model_parity import ModelCase


def _lr_images(rng, full):
    return (rng.uniform(0.0, 1.0, (1, 12, 8, 3) if full else (2, 10, 6, 3)).astype(np.float32),)


def _rgb_images(rng, full):
    return (rng.uniform(0.0, 1.0, (1, 35, 33, 3) if full else (2, 35, 33, 3)).astype(np.float32),)


CASES = {
    "wasa": ModelCase(small={"scale": 4, "num_feat": 8, "num_block": 2, "reduction": 4}, full={},
                      inputs=_lr_images, train_mode=False),
    "vgg16": ModelCase(small={"num_feat": 4}, full={}, inputs=_rgb_images, train_mode=False),
    "vgg19": ModelCase(small={"num_feat": 4}, full={}, inputs=_rgb_images, train_mode=False),
}
