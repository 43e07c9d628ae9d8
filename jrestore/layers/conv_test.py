"""ConvTranspose2d's two formulations (input-dilated convolution, sub-pixel phases) against PyTorch's definition.

The reference is a float64 NumPy scatter of PyTorch's documented rule, out[i * s - p + t] += x[i] w[t] (plus
output_padding rows at the end), written independently of both JAX formulations.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jrestore.layers import ConvTranspose2d
from jrestore.layers.conv import _phase_plan, conv_transpose_dilated, conv_transpose_phases
from jrestore.parity.tolerances import GRADIENT, LAYER


def _scatter_reference(x, w, stride, padding, output_padding, groups):
    """float64 PyTorch conv_transpose2d: x [B, H, W, C_in], w [kH, kW, C_in, C_out / groups] -> NHWC."""
    b, h, wd, c_in = x.shape
    kh, kw, _, c_out_g = w.shape
    (sh, sw), (ph, pw), (oh, ow) = stride, padding, output_padding
    full = np.zeros((b, (h - 1) * sh + kh + oh, (wd - 1) * sw + kw + ow, groups * c_out_g))
    cg = c_in // groups
    for gi in range(groups):
        xs = x[..., gi * cg:(gi + 1) * cg].astype(np.float64)
        for t in range(kh):
            for u in range(kw):
                contrib = xs @ w[t, u, gi * cg:(gi + 1) * cg].astype(np.float64)  # [B, H, W, C_out / groups]
                full[:, t:t + (h - 1) * sh + 1:sh, u:u + (wd - 1) * sw + 1:sw, gi * c_out_g:(gi + 1) * c_out_g] += contrib
    out_h = (h - 1) * sh - 2 * ph + kh + oh
    out_w = (wd - 1) * sw - 2 * pw + kw + ow
    return full[:, ph:ph + out_h, pw:pw + out_w]


# (kernel, stride, padding, output_padding, groups, input h x w): FSRCNN's x3 and x2 deconvolutions, the common
# k4 s2 p1, a kernel smaller than the stride (phases without taps), padding past the kernel (the phase window
# starts inside the input: cropped, not padded), rectangular everything, groups.
CASES = [((9, 9), (3, 3), (4, 4), (2, 2), 1, (5, 4)),
         ((9, 9), (2, 2), (4, 4), (1, 1), 1, (4, 5)),
         ((4, 4), (2, 2), (1, 1), (0, 0), 1, (5, 3)),
         ((2, 1), (3, 2), (0, 0), (2, 1), 1, (3, 4)),
         ((3, 5), (2, 3), (3, 4), (1, 0), 1, (6, 5)),
         ((3, 3), (2, 1), (1, 0), (1, 0), 2, (4, 5)),
         ((5, 4), (4, 3), (2, 1), (3, 2), 3, (3, 3))]


def _arrays(case, seed=0):
    k, s, p, op, g, hw = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, *hw, 2 * g)).astype(np.float32)
    w = rng.normal(size=(*k, 2 * g, 3)).astype(np.float32)
    return x, w


@pytest.mark.parametrize("case", CASES, ids=[f"k{c[0]}s{c[1]}p{c[2]}op{c[3]}g{c[4]}" for c in CASES])
def test_both_formulations_equal_pytorchs_definition(case):
    k, s, p, op, g, _ = case
    x, w = _arrays(case)
    ref = _scatter_reference(x, w, s, p, op, g)
    with jax.default_matmul_precision("highest"):
        dilated = np.asarray(conv_transpose_dilated(jnp.asarray(x), jnp.asarray(w), s, p, op, (1, 1), g))
        phases = np.asarray(conv_transpose_phases(jnp.asarray(x), jnp.asarray(w), s, p, op, g))
    assert dilated.shape == phases.shape == ref.shape
    np.testing.assert_allclose(dilated, ref, rtol=0, atol=LAYER)
    np.testing.assert_allclose(phases, ref, rtol=0, atol=LAYER)


@pytest.mark.parametrize("case", CASES[:3] + CASES[5:6], ids=["k9s3", "k9s2", "k4s2", "groups2"])
def test_phase_gradients_equal_the_dilated_ones(case):
    k, s, p, op, g, _ = case
    x, w = _arrays(case, seed=1)
    out_shape = _scatter_reference(x, w, s, p, op, g).shape
    cotangent = jnp.asarray(np.random.default_rng(2).normal(size=out_shape), jnp.float32)

    def grads(fn):
        with jax.default_matmul_precision("highest"):
            return jax.grad(lambda x, w: jnp.sum(fn(x, w) * cotangent), (0, 1))(jnp.asarray(x), jnp.asarray(w))

    reference = grads(lambda x, w: conv_transpose_dilated(x, w, s, p, op, (1, 1), g))
    phases = grads(lambda x, w: conv_transpose_phases(x, w, s, p, op, g))
    for name, a, b in zip(("x", "w"), reference, phases):
        scale = max(1.0, float(jnp.max(jnp.abs(a))))
        assert float(jnp.max(jnp.abs(a - b))) <= GRADIENT * scale, name


def test_phase_plan_of_fsrcnns_x3_deconvolution():
    # k 9, s 3, p 4, op 2 (FSRCNN x3): output 3n (grows by 0), no row to crop; phases 0 and 1 read x[m - 1 .. m + 1], phase 2 x[m .. m + 2]
    plan = _phase_plan(k=9, s=3, p=4, op=2)
    assert (plan.grow, plan.extra_rows, plan.low, plan.width) == (0, 0, -1, 4)
    np.testing.assert_array_equal(plan.taps, [[7, 8, 9], [4, 5, 6], [1, 2, 3], [9, 9, 0]])  # 9: no tap


def test_layer_takes_the_phase_path_for_strided_undilated_kernels():
    def lhs_dilations(layer, x):
        jaxpr = jax.make_jaxpr(lambda x: layer(x))(x)
        return [tuple(e.params["lhs_dilation"]) for e in jaxpr.jaxpr.eqns if e.primitive.name == "conv_general_dilated"]

    x = jnp.zeros((1, 5, 5, 4))
    assert lhs_dilations(ConvTranspose2d(4, 2, 9, stride=3, padding=4, output_padding=2, rngs=nnx.Rngs(0)), x) == [(1, 1)]
    assert lhs_dilations(ConvTranspose2d(4, 2, 3, stride=2, dilation=2, rngs=nnx.Rngs(0)), x) == [(2, 2)]


def test_empty_output_is_a_value_error():
    with pytest.raises(ValueError, match=r"x: input \(1, 1, 1, 2\) gives an empty ConvTranspose2d output"):
        ConvTranspose2d(2, 2, 3, stride=2, padding=3, rngs=nnx.Rngs(0))(jnp.zeros((1, 1, 1, 2)))
