"""Shared data of the INT8 tests (tests/test_quantize.py and parity_tests/test_quantize_parity.py): tiny
DnCNN / FSRCNN settings, seeded float weights, natural-image-like inputs, and a PyTorch PTQ of the tiny DnCNN
(the module fixture `dncnn_ptq`, imported by both test modules)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_ref
import torch_ref.models as tmodels
import torch_ref.quantize as tq
from jrestore.core.quantize import quant_stack

__all__ = ["DNCNN", "FSRCNN", "weights_file", "images", "nchw", "dncnn_ptq"]

DNCNN = dict(nc=8, nb=4, act_mode="R")
FSRCNN = dict(scale_factor=2, d=8, s=4, m=1)


def weights_file(tmp_path, name, kwargs, seed=0):
    torch.manual_seed(seed)
    net = tmodels.get(name, **kwargs)
    path = tmp_path / f"{name}.pth"
    torch.save(net.state_dict(), path)
    return path


def images(seed, n=3, size=24, channels=1):
    """Smooth ramps plus texture, as [B, H, W, C] float32 in [0, 1] (natural-image-like ranges)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.1, 0.9, size)[None, :, None] * np.linspace(0.6, 1.0, size)[:, None, None]
    return np.stack([np.clip(ramp + 0.05 * rng.standard_normal((size, size, channels)), 0, 1)
                     for _ in range(n)]).astype(np.float32)


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@pytest.fixture(scope="module")
def dncnn_ptq(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("q")
    weights = weights_file(tmp, "dncnn", DNCNN)
    net = torch_ref.load(weights, model="dncnn", **DNCNN)
    stack = quant_stack("dncnn", DNCNN)
    clean = images(0)
    noisy = clean + 25 / 255 * np.random.default_rng(1).standard_normal(clean.shape).astype(np.float32)
    qnet, tensors = tq.ptq(net, stack, [nchw(noisy)])
    return tmp, weights, net, stack, noisy, qnet, tensors
