"""jrestore.ops.resize against torch_ref.ops.resize (and F.interpolate itself), odd sizes, batch 2."""
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jrestore.ops import resize as jr
from jrestore.parity.harness import assert_close, torch_input
from jrestore.parity.tolerances import OP
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


X_LARGE = np.random.default_rng(1).random((2, 101, 67, 3)).astype(np.float32) * 1.2 - 0.1


@pytest.mark.parametrize("x", [X, X_LARGE], ids=["17x15", "101x67"])
@pytest.mark.parametrize("scale", [2, 3, 4, 1.7, 0.5])
def test_interpolate_bilinear_torch_scale_factor(x, scale):
    # MSRResNet's base, F.interpolate(x, scale_factor=s, mode='bilinear', align_corners=False): odd,
    # non-square, batch 2; 1.7 and 0.5 check the 1 / scale coordinate map and that shrinking has no antialias
    ref = F.interpolate(torch_input(x), scale_factor=scale, mode="bilinear", align_corners=False)
    assert tuple(ref.shape[2:]) == (int(x.shape[1] * scale), int(x.shape[2] * scale))
    assert_close(jr.interpolate_bilinear_torch(jnp.asarray(x), scale=scale), ref, OP)
    assert torch.equal(tr.interpolate_bilinear_torch(torch_input(x), scale=scale), ref)  # the twin is F.interpolate


@pytest.mark.parametrize("size", [(34, 30), (51, 45), (8, 7), (25, 11)])
def test_interpolate_bilinear_torch_size(size):
    ref = F.interpolate(torch_input(X), size=size, mode="bilinear", align_corners=False)
    assert_close(jr.interpolate_bilinear_torch(jnp.asarray(X), size=size), ref, OP)
    unbatched = (jr.interpolate_bilinear_torch(jnp.asarray(X[0]), size=size)[None],  # rank 3 in both frameworks
                 tr.interpolate_bilinear_torch(torch_input(X)[0], size=size)[None])
    assert_close(*unbatched, OP)


@pytest.mark.parametrize("kwargs,message", [
    ({}, "scale/size: give exactly one"),
    ({"scale": 2, "size": (4, 4)}, "scale/size: give exactly one"),
    ({"scale": 0}, "scale: expected a positive value"),
    ({"scale": (2, 2, 2)}, "scale: expected a number or a pair"),
    ({"scale": 0.01}, "scale: expected an output of at least 1x1"),
    ({"size": (4,)}, "size: expected a pair of positive ints"),
])
def test_interpolate_bilinear_torch_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jr.interpolate_bilinear_torch(jnp.zeros((1, 4, 4, 1)), **kwargs)


def test_torch_linear_taps_are_pytorchs_weights():
    # interpolating the identity along W reveals PyTorch's float32 weights exactly (w * 1 + w' * 0 = w)
    for n, s in [(17, 3), (1000, 3), (333, 1.7)]:
        eye = torch.eye(n).reshape(n, 1, 1, n)
        ref = F.interpolate(eye, scale_factor=(1, s), mode="bilinear", align_corners=False)
        ref = ref[:, 0, 0, :].numpy().T  # [out, in]
        i0, i1, w0, w1 = jr.torch_linear_taps(n, ref.shape[0], float(s))
        mat = np.zeros_like(ref)
        np.add.at(mat, (np.arange(len(i0)), i0), w0)
        np.add.at(mat, (np.arange(len(i1)), i1), w1)
        assert np.array_equal(mat, ref), (n, s, np.abs(mat - ref).max())


@pytest.mark.parametrize("call", [
    lambda: tr.imresize_matlab(torch.zeros(4, 4), scale=2),
    lambda: tr.imresize_matlab(torch.zeros(1, 1, 4, 4, dtype=torch.int32), scale=2),
    lambda: tr.imresize_matlab(torch.zeros(1, 1, 4, 4), scale=-1),
    lambda: tr.resize_bicubic_torch(torch.zeros(1, 1, 4, 4)),
    lambda: tr.interpolate_bilinear_torch(torch.zeros(1, 1, 4, 4)),
    lambda: tr.interpolate_bilinear_torch(torch.zeros(1, 1, 4, 4), scale=0),
])
def test_torch_bad_input(call):
    with pytest.raises(ValueError):
        call()
