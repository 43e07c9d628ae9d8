"""Sequential paths, residual blocks and the depthwise-separable conv against explicit compositions."""
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jrestore.layers import DepthwiseSeparableConv2d, ResidualBlockNoBN, SRResNetBlock
from jrestore.parity.tolerances import INIT_STD, LAYER

X = jnp.asarray(np.random.default_rng(0).normal(size=(2, 17, 15, 6)), jnp.float32)


def test_residual_block_no_bn_is_identity_plus_scaled_branch():
    blk = ResidualBlockNoBN(6, res_scale=0.3, rngs=nnx.Rngs(0))
    branch = blk.conv2(jnp.maximum(blk.conv1(X), 0))
    np.testing.assert_allclose(np.asarray(blk(X)), np.asarray(X + 0.3 * branch), rtol=0, atol=LAYER)


def test_residual_block_no_bn_init_is_basicsr():
    # BasicSR default_init_weights(..., 0.1): kaiming_normal (fan_in, gain sqrt(2)) x 0.1, zero bias
    blk = ResidualBlockNoBN(64, rngs=nnx.Rngs(0))
    w = np.asarray(blk.conv1.weight[...])
    assert abs(w.std() / (0.1 * math.sqrt(2 / (64 * 9))) - 1) < INIT_STD
    np.testing.assert_array_equal(np.asarray(blk.conv2.bias[...]), 0.0)
    w_default = np.asarray(ResidualBlockNoBN(64, pytorch_init=True, rngs=nnx.Rngs(0)).conv1.weight[...])
    assert abs(w_default.std() / (1 / math.sqrt(3 * 64 * 9)) - 1) < INIT_STD


def test_srresnet_block_composition_and_modes():
    blk = SRResNetBlock(6, rngs=nnx.Rngs(0))
    assert float(blk.prelu.weight[...].squeeze()) == 0.25 and blk.prelu.weight[...].shape == (1,)
    blk.eval()
    ref = X + blk.bn2(blk.conv2(blk.prelu(blk.bn1(blk.conv1(X)))))
    np.testing.assert_allclose(np.asarray(blk(X)), np.asarray(ref), rtol=0, atol=LAYER)
    blk.train()
    blk(X)
    assert int(blk.bn1.num_batches_tracked[...]) == 1 and int(blk.bn2.num_batches_tracked[...]) == 1


def test_depthwise_separable_equals_its_two_convs():
    m = DepthwiseSeparableConv2d(6, 4, kernel_size=5, padding=2, rngs=nnx.Rngs(0))
    assert m.depthwise.groups == 6 and m.depthwise.weight[...].shape == (5, 5, 1, 6)
    assert m.pointwise.weight[...].shape == (1, 1, 6, 4)
    # depthwise = each channel convolved with its own kernel: compare with per-channel convolutions
    per_channel = [jax.lax.conv_general_dilated(X[..., c:c + 1], m.depthwise.weight[..., c:c + 1], (1, 1),
                                                ((2, 2), (2, 2)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
                   + m.depthwise.bias[c] for c in range(6)]
    ref = m.pointwise(jnp.concatenate(per_channel, axis=-1))
    np.testing.assert_allclose(np.asarray(m(X)), np.asarray(ref), rtol=0, atol=LAYER)
