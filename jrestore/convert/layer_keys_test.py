"""Layers and models seen through the converter: their state-dict keys are PyTorch's, and init_weights works in
PyTorch's layout. These tests use jrestore.convert, which sits above jrestore.layers in the import layers
(pyproject.toml's [tool.importlinter]), so they live beside the converter rather than beside the layers.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.convert import torch_state_dict
from jrestore.layers import (BatchNorm2d, Conv2d, ConvTranspose2d, Linear, PReLU, ReLU, ResidualBlockNoBN, Sequential,
                             Upsampler, init)
from jrestore.models.wasa import WASA
from jrestore.ops.pixel_shuffle import pixel_shuffle
from jrestore.parity.tolerances import LAYER, OP

X = jnp.asarray(np.random.default_rng(0).normal(size=(2, 17, 15, 6)), jnp.float32)


class _Net(nnx.Module):
    def __init__(self, rngs):
        self.body = Sequential(Conv2d(6, 6, 3, padding=1, rngs=rngs), ReLU(), BatchNorm2d(6), PReLU())


def test_sequential_paths_are_torch_keys():
    keys = sorted(torch_state_dict(_Net(nnx.Rngs(0))))
    assert keys == ["body.0.bias", "body.0.weight", "body.2.bias", "body.2.num_batches_tracked",
                    "body.2.running_mean", "body.2.running_var", "body.2.weight", "body.3.weight"]
    seq = _Net(nnx.Rngs(0)).body
    ref = seq[3](seq[2](jnp.maximum(seq[0](X), 0)))
    np.testing.assert_array_equal(np.asarray(nnx.clone(seq)(X)), np.asarray(ref))
    assert len(seq) == 4 and isinstance(seq[-1], PReLU)
    with pytest.raises(ValueError, match=r"layers\[1\]: expected a callable layer, got int"):
        Sequential(ReLU(), 3)


def test_residual_block_no_bn_torch_keys():
    blk = ResidualBlockNoBN(6, res_scale=0.3, rngs=nnx.Rngs(0))
    assert sorted(torch_state_dict(blk)) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight"]


@pytest.mark.parametrize("scale,keys,out_ch", [
    (2, ["0.bias", "0.weight"], [16]),
    (3, ["0.bias", "0.weight"], [36]),
    (4, ["0.bias", "0.weight", "2.bias", "2.weight"], [16, 16]),
    (8, ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"], [16, 16, 16]),
])
def test_upsampler_layout_and_torch_keys(scale, keys, out_ch):
    up = Upsampler(scale, 4, rngs=nnx.Rngs(0))
    assert sorted(torch_state_dict(up)) == keys
    assert [m.out_channels for m in up if isinstance(m, Conv2d)] == out_ch
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 3, 4)), jnp.float32)
    y = up(x)
    assert y.shape == (2, 5 * scale, 3 * scale, 4)
    ref = x  # the container is exactly conv -> pixel_shuffle per stage
    for conv, shuffle in zip(list(up)[::2], list(up)[1::2]):
        ref = pixel_shuffle(conv(ref), shuffle.upscale_factor)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(ref))


def test_init_weights_selects_kinds_converts_layout_and_fills_bias():
    model = Sequential(Conv2d(6, 6, 3, rngs=nnx.Rngs(0)), Linear(10, 24, rngs=nnx.Rngs(0)),
                       ConvTranspose2d(64, 32, 4, rngs=nnx.Rngs(0)))
    before = torch_state_dict(model)
    init.init_weights(model, functools.partial(init.orthogonal, gain=2.0), key=jax.random.key(0), bias_fill=0.5)
    after = torch_state_dict(model)
    conv = after["0.weight"].reshape(6, -1).astype(np.float64)  # PyTorch layout [out, in*k*k]
    np.testing.assert_allclose(conv @ conv.T, 4 * np.eye(6), atol=10 * OP)
    lin = after["1.weight"].astype(np.float64)  # [out 24, in 10]: orthonormal columns
    np.testing.assert_allclose(lin.T @ lin, 4 * np.eye(10), atol=10 * OP)
    np.testing.assert_array_equal(after["0.bias"], 0.5)
    np.testing.assert_array_equal(after["2.weight"], before["2.weight"])  # ConvTranspose: not selected
    np.testing.assert_array_equal(after["2.bias"], before["2.bias"])


def test_wasa_passes_attention_chunk_through():
    assert WASA(num_feat=8, num_block=0, reduction=4, rngs=nnx.Rngs(0)).sa.chunk_size == "auto"
    with pytest.raises(ValueError, match="attention_chunk: expected None, 'auto' or a positive int"):
        WASA(num_feat=8, num_block=0, reduction=4, attention_chunk=0, rngs=nnx.Rngs(0))


def test_wasa_attention_chunk_changes_nothing_at_64x64():
    """WASA x2 on a 64x64 LR input: the attention runs over all 4096 LR pixels (before the upsampler)."""
    x = jnp.asarray(np.random.default_rng(5).uniform(0, 1, (1, 64, 64, 3)), jnp.float32)
    outs, keys = {}, {}
    for chunk in (None, 1000):  # 1000: five blocks, the last of 96 rows
        m = WASA(scale=2, num_feat=16, num_block=1, reduction=4, attention_chunk=chunk, rngs=nnx.Rngs(0))
        m.sa.gamma[...] = jnp.asarray([0.5], jnp.float32)
        outs[chunk] = np.asarray(m(x))  # eager: the two models share every compiled op but the attention's
        keys[chunk] = sorted(torch_state_dict(m))
    assert keys[1000] == keys[None]  # no new parameter or state
    m.sa.gamma[...] = jnp.zeros((1,), jnp.float32)
    assert np.abs(outs[1000] - np.asarray(m(x))).max() > 1e-3  # the attention branch shows in the output
    np.testing.assert_allclose(outs[1000], outs[None], rtol=0, atol=LAYER)
