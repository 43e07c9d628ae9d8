"""Conv2d's convolution backend (JRESTORE_CONV_BACKEND / jrestore.runtime.use_conv_backend): which library its
traced computation calls, that both give the same outputs and gradients, what falls back to XLA, and the one error
when oneDNN is asked for but absent. oneDNN's own numbers: jrestore/ops/onednn/conv_test.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import Conv2d, ConvTranspose2d
from jrestore.ops import onednn
from jrestore.parity.tolerances import CONV_FLOAT32_REL
from jrestore.runtime import use_conv_backend

needs_library = pytest.mark.skipif(not onednn.available(), reason=f"oneDNN convolutions: {onednn.status()['reason']}")


def _hlo(fn, *args):
    return jax.jit(fn).lower(*args).as_text()


@needs_library
def test_conv2d_switches_backend_and_both_agree():
    layer = Conv2d(3, 8, 3, stride=2, padding=1, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(2).standard_normal((2, 9, 10, 3)), jnp.float32)
    loss = lambda layer, x: jnp.sum(layer(x) ** 2)
    results = {}
    for backend in ("xla", "onednn"):
        with use_conv_backend(backend):
            hlo = _hlo(lambda x: layer(x), x)
            assert (onednn.TARGETS["forward"] in hlo) == (backend == "onednn"), backend
            results[backend] = (layer(x), nnx.grad(loss, argnums=(0, 1))(layer, x))
    y_xla, (g_xla, dx_xla) = results["xla"]
    y_one, (g_one, dx_one) = results["onednn"]
    scale = lambda a: max(float(jnp.max(jnp.abs(a))), 1.0)
    assert float(jnp.max(jnp.abs(y_xla - y_one))) <= CONV_FLOAT32_REL * scale(y_xla)
    assert float(jnp.max(jnp.abs(dx_xla - dx_one))) <= CONV_FLOAT32_REL * scale(dx_xla)
    leaves_xla, leaves_one = jax.tree.leaves(nnx.state(g_xla)), jax.tree.leaves(nnx.state(g_one))
    assert len(leaves_xla) == len(leaves_one) == 2  # weight and bias
    for a, b in zip(leaves_xla, leaves_one):
        assert float(jnp.max(jnp.abs(a - b))) <= CONV_FLOAT32_REL * scale(a)


@needs_library
def test_auto_takes_onednn_for_large_convolutions_only():
    # lowered, not run: DnCNN's body convolution at the bench's size (1.2 GFLOP) and a 0.3 MFLOP one
    big, small = Conv2d(64, 64, 3, padding=1, rngs=nnx.Rngs(0)), Conv2d(3, 8, 3, stride=2, padding=1, rngs=nnx.Rngs(0))
    x_big, x_small = jnp.ones((16, 32, 32, 64), jnp.float32), jnp.ones((2, 9, 10, 3), jnp.float32)
    assert onednn.conv_flops(x_big.shape, (3, 3, 64, 64), (1, 1), ((1, 1), (1, 1))) == 2 * 16 * 32 * 32 * 64 * 64 * 9
    assert onednn.conv_flops(x_small.shape, (3, 3, 3, 8), (2, 2), ((1, 1), (1, 1))) == 2 * 2 * 5 * 5 * 3 * 8 * 9
    with use_conv_backend("auto"):  # the CPU is JAX's default backend here
        assert onednn.TARGETS["forward"] in _hlo(lambda x: big(x), x_big)
        assert onednn.TARGETS["forward"] not in _hlo(lambda x: small(x), x_small)


@needs_library
def test_what_onednn_does_not_cover_stays_on_xla():
    x = jnp.ones((1, 6, 6, 4), jnp.float32)
    with use_conv_backend("onednn"):
        transposed = ConvTranspose2d(4, 4, 3, stride=2, rngs=nnx.Rngs(0))  # input dilation
        assert onednn.TARGETS["forward"] not in _hlo(lambda x: transposed(x), x)
        bf16 = Conv2d(4, 4, 3, padding=1, bias=False, rngs=nnx.Rngs(0))
        bf16.weight.set_value(bf16.weight.get_value().astype(jnp.bfloat16))  # a bfloat16 compute dtype
        assert onednn.TARGETS["forward"] not in _hlo(lambda x: bf16(x), x.astype(jnp.bfloat16))
        reflect = Conv2d(4, 4, 3, padding=1, padding_mode="reflect", rngs=nnx.Rngs(0))  # pads, then oneDNN
        assert onednn.TARGETS["forward"] in _hlo(lambda x: reflect(x), x)


def test_onednn_asked_for_but_absent_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(onednn, "_STATUS", {"available": False, "reason": "_jrestore_onednn.so is not built",
                                            "library": "x"})
    layer = Conv2d(2, 2, 3, rngs=nnx.Rngs(0))
    x = jnp.ones((1, 5, 5, 2), jnp.float32)
    with use_conv_backend("onednn"):
        with pytest.raises(ValueError, match="JRESTORE_CONV_BACKEND: 'onednn' was asked for .* is not built"):
            layer(x)
    with use_conv_backend("auto"):  # auto quietly keeps XLA
        assert onednn.TARGETS["forward"] not in _hlo(lambda x: layer(x), x)
