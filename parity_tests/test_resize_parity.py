"""jrestore.ops.resize against torch_ref.ops.resize (and F.interpolate itself), odd sizes, batch 2."""
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jrestore.ops import resize as jr
from parity_tests.harness import assert_close, torch_input
from parity_tests.tolerances import OP
from torch_ref.ops import resize as tr

X = np.random.default_rng(0).random((2, 17, 15, 3)).astype(np.float32) * 1.2 - 0.1  # a little outside [0, 1]


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4])
def test_imresize_matlab(scale):
    assert_close(jr.imresize_matlab(jnp.asarray(X), scale=scale), tr.imresize_matlab(torch_input(X), scale=scale), OP)


@pytest.mark.parametrize("fn", ["resize_bicubic_torch", "resize_bicubic_pil", "resize_bilinear_torch", "resize_nearest_exact"])
@pytest.mark.parametrize("size", [(34, 30), (51, 45), (8, 7), (25, 11)])
def test_interpolations(fn, size):
    j = getattr(jr, fn)(jnp.asarray(X[..., :1]), size=size)
    t = getattr(tr, fn)(torch_input(X[..., :1]), size=size)
    assert_close(j, t, OP)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_torch_matches_f_interpolate_scale_factor(scale):
    ref = F.interpolate(torch_input(X), scale_factor=scale, mode="bicubic", align_corners=False)
    assert_close(jr.resize_bicubic_torch(jnp.asarray(X), scale=scale), ref, OP)
    assert_close(jr.quantize_uint8(jnp.asarray(X)), tr.quantize_uint8(torch_input(X)), OP)  # XLA may divide as * (1/255)


@pytest.mark.parametrize("call", [
    lambda: tr.imresize_matlab(torch.zeros(4, 4), scale=2),
    lambda: tr.imresize_matlab(torch.zeros(1, 1, 4, 4, dtype=torch.int32), scale=2),
    lambda: tr.imresize_matlab(torch.zeros(1, 1, 4, 4), scale=-1),
    lambda: tr.resize_bicubic_torch(torch.zeros(1, 1, 4, 4)),
])
def test_torch_bad_input(call):
    with pytest.raises(ValueError):
        call()
