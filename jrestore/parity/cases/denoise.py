"""Parity cases for the denoising family (jrestore.models.dncnn, .ffdnet, .attention_unet, .multiscale_enhancer).

Inputs are odd and non-square wherever the model takes them (DnCNN, FFDNet: its replicate padding to even
sizes, the enhancer: its ceil-mode pooling and crop); the attention U-Net needs multiples of 2**depth, so
it gets 24x16 at depth 2 (a 6x4 bottleneck) and 48x32 at the default depth 4. FFDNet's second input is
its noise level, one per image, [B, 1, 1, 1] (the same array in NHWC and NCHW).
"""
import numpy as np

import jrestore.models.attention_unet  # noqa: F401  (registers the jrestore twins)
import jrestore.models.dncnn  # noqa: F401
import jrestore.models.ffdnet  # noqa: F401
import jrestore.models.multiscale_enhancer  # noqa: F401
import torch_ref.models.attention_unet  # noqa: F401  (registers the torch_ref twins)
import torch_ref.models.dncnn  # noqa: F401
import torch_ref.models.ffdnet  # noqa: F401
import torch_ref.models.multiscale_enhancer  # noqa: F401
from jrestore.parity.model_parity import ModelCase


def noisy_images(rng: np.random.Generator, shape) -> np.ndarray:
    """Images in [0, 1] plus AWGN of sigma 25/255, unclipped (as the KAIR test protocol feeds DnCNN)."""
    return (rng.uniform(0.0, 1.0, shape) + rng.normal(0.0, 25 / 255, shape)).astype(np.float32)


def _dncnn(rng, full):
    return (noisy_images(rng, (1, 40, 36, 1) if full else (2, 17, 15, 1)),)


def _ffdnet(rng, full):
    batch = 1 if full else 2
    sigma = rng.uniform(5 / 255, 50 / 255, (batch, 1, 1, 1)).astype(np.float32)
    return noisy_images(rng, (batch, 41, 39, 1) if full else (batch, 17, 15, 1)), sigma


def _attention_unet(rng, full):
    return (noisy_images(rng, (1, 48, 32, 1) if full else (2, 24, 16, 1)),)


def _enhancer(rng, full):
    return (noisy_images(rng, (1, 41, 39, 1) if full else (2, 17, 15, 1)),)


CASES = {
    # KAIR's training layout (act_mode 'BR': BN in the body); full = DnCNN-S, 17 layers, 64 features
    "dncnn": ModelCase(small={"nc": 8, "nb": 4}, full={}, inputs=_dncnn),
    # KAIR's default act_mode 'R' has no BN; the 'BR' layout runs in test_denoise_models.py
    "ffdnet": ModelCase(small={"nc": 8, "nb": 4}, full={}, inputs=_ffdnet, train_mode=False),
    "attention_unet": ModelCase(small={"num_feat": 8, "depth": 2}, full={}, inputs=_attention_unet),
    "multiscale_enhancer": ModelCase(small={"num_feat": 8}, full={}, inputs=_enhancer, train_mode=False),
}
