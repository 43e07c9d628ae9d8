"""oneDNN convolutions (forward, input and filter gradients) against a float64 NumPy convolution, under jit and
vmap; the backend setting; the build's idempotence (Conv2d's switch: jrestore/layers/conv_backend_test.py). The numeric tests skip when the library
is not built (python -m jrestore.ops.onednn.build)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jrestore.ops import onednn
from jrestore.ops.onednn import build
from jrestore.parity.tolerances import CONV_FLOAT32_REL
from jrestore.runtime import CONV_BACKEND_ENV, conv_backend, use_conv_backend

needs_library = pytest.mark.skipif(not onednn.available(), reason=f"oneDNN convolutions: {onednn.status()['reason']}")


# ---- float64 NumPy reference: explicit patches, so nothing is shared with XLA or oneDNN ----

def _patches(x, k, strides, padding, dilation):
    """x [N, H, W, C] float64 -> patches [N, OH, OW, KH, KW, C] and the padded input's shape."""
    (kh, kw), (sh, sw), (dh, dw) = k, strides, dilation
    xp = np.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    p = np.empty((x.shape[0], oh, ow, kh, kw, x.shape[3]))
    for i in range(kh):
        for j in range(kw):
            p[:, :, :, i, j] = xp[:, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
    return p, xp.shape


def np_conv_and_grads(x, w, dy, strides, padding, dilation, groups):
    """y = conv(x, w) and, for the cotangent dy, dL/dx and dL/dw of L = sum(y * dy), all float64.
    x [N, H, W, C], w [KH, KW, C/groups, O], dy [N, OH, OW, O]."""
    x, w, dy = (np.asarray(a, np.float64) for a in (x, w, dy))
    kh, kw, cg, o = w.shape
    og = o // groups
    p, padded_shape = _patches(x, (kh, kw), strides, padding, dilation)
    y = np.zeros(p.shape[:3] + (o,))
    dw = np.zeros_like(w)
    dp = np.zeros_like(p)
    for g in range(groups):
        pg, wg, dyg = p[..., g * cg:(g + 1) * cg], w[..., g * og:(g + 1) * og], dy[..., g * og:(g + 1) * og]
        y[..., g * og:(g + 1) * og] = np.einsum("nhwijc,ijco->nhwo", pg, wg)
        dw[..., g * og:(g + 1) * og] = np.einsum("nhwijc,nhwo->ijco", pg, dyg)
        dp[..., g * cg:(g + 1) * cg] = np.einsum("nhwo,ijco->nhwijc", dyg, wg)
    dxp = np.zeros(padded_shape)  # scatter the patch gradients back, then crop the padding
    (sh, sw), (dh, dwl) = strides, dilation
    oh, ow = p.shape[1:3]
    for i in range(kh):
        for j in range(kw):
            dxp[:, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dwl: j * dwl + sw * (ow - 1) + 1: sw] += dp[:, :, :, i, j]
    (pt, pb), (pl, pr) = padding
    dx = dxp[:, pt: dxp.shape[1] - pb, pl: dxp.shape[2] - pr]
    return y, dx, dw


def _rel_err(got, ref):
    return float(np.max(np.abs(np.asarray(got, np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))


# (x shape NHWC, kernel, out channels, strides, padding, dilation, groups)
CASES = {
    "3x3_c64": ((2, 8, 8, 64), (3, 3), 64, (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    "c1_in": ((2, 9, 7, 1), (3, 3), 16, (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    "c1_out": ((2, 8, 8, 64), (3, 3), 1, (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    "stride2_asym_pad": ((2, 11, 10, 8), (3, 3), 12, (2, 2), ((0, 1), (2, 0)), (1, 1), 1),
    "dilation2": ((1, 12, 13, 6), (3, 3), 5, (1, 1), ((2, 2), (2, 2)), (2, 2), 1),
    "1x1": ((2, 6, 5, 64), (1, 1), 32, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    "9x9_c1": ((2, 12, 12, 1), (9, 9), 8, (1, 1), ((4, 4), (4, 4)), (1, 1), 1),
    "5x3_stride_2x1_groups2": ((2, 9, 8, 8), (5, 3), 6, (2, 1), ((2, 1), (1, 1)), (1, 1), 2),
}


def _case_arrays(case, seed=0):
    shape, k, o, strides, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.standard_normal((*k, shape[3] // groups, o)) / np.sqrt(k[0] * k[1] * shape[3] / groups)).astype(np.float32)
    return x, w, rng


@needs_library
@pytest.mark.parametrize("name", list(CASES))
def test_forward_and_gradients_match_float64(name):
    shape, k, o, strides, padding, dilation, groups = case = CASES[name]
    x, w, rng = _case_arrays(case)

    @jax.jit
    def forward_and_vjp(x, w, dy):
        y, vjp = jax.vjp(lambda x, w: onednn.conv2d(x, w, strides, padding, dilation, groups), x, w)
        return (y, *vjp(dy))

    y_shape = jax.eval_shape(lambda: onednn.conv2d(jnp.asarray(x), jnp.asarray(w), strides, padding, dilation, groups))
    dy = rng.standard_normal(y_shape.shape).astype(np.float32)
    ref = np_conv_and_grads(x, w, dy, strides, padding, dilation, groups)
    got = forward_and_vjp(x, w, dy)
    xla = lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation,
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)
    assert got[0].shape == xla.shape == ref[0].shape
    for what, g, r in zip(("y", "dx", "dw"), got, ref):
        assert g.shape == r.shape, what
        assert _rel_err(g, r) <= CONV_FLOAT32_REL, (what, _rel_err(g, r))


@needs_library
def test_vmap_shared_filter_per_example_filter_and_per_example_gradients():
    shape, k, o, strides, padding, dilation, groups = case = CASES["stride2_asym_pad"]
    x, w, rng = _case_arrays(case, seed=1)
    xs = np.stack([x, -2 * x, 0.5 * x[:, ::-1]]).astype(np.float32)  # [3, N, H, W, C]
    ws = np.stack([w, w[::-1], -w]).astype(np.float32)
    conv = lambda x, w: onednn.conv2d(x, w, strides, padding, dilation, groups)
    ys_shared = jax.jit(jax.vmap(conv, (0, None)))(xs, w)  # the batch folds into N
    ys_each = jax.jit(jax.vmap(conv))(xs, ws)  # one oneDNN call per filter
    ys_x_shared = jax.jit(jax.vmap(conv, (None, 0)))(x, ws)  # the input broadcast
    dy = rng.standard_normal(ys_shared.shape).astype(np.float32)
    # per-example filter gradients: vmap of grad, both x and dy batched
    per_example_dw = jax.jit(jax.vmap(jax.grad(lambda x, w, dy: jnp.sum(conv(x, w) * dy), 1), (0, None, 0)))(xs, w, dy)
    # nested vmap: two leading batch dims
    nested = jax.jit(jax.vmap(jax.vmap(conv, (0, None)), (0, None)))(xs.reshape(3, 1, *x.shape), w)
    for i in range(3):
        y_ref, _, dw_ref = np_conv_and_grads(xs[i], w, dy[i], strides, padding, dilation, groups)
        assert _rel_err(ys_shared[i], y_ref) <= CONV_FLOAT32_REL
        assert _rel_err(nested[i, 0], y_ref) <= CONV_FLOAT32_REL
        assert _rel_err(per_example_dw[i], dw_ref) <= CONV_FLOAT32_REL
        assert _rel_err(ys_each[i], np_conv_and_grads(xs[i], ws[i], dy[i], strides, padding, dilation, groups)[0]) <= CONV_FLOAT32_REL
        assert _rel_err(ys_x_shared[i], np_conv_and_grads(x, ws[i], dy[i], strides, padding, dilation, groups)[0]) <= CONV_FLOAT32_REL


def _hlo(fn, *args):
    return jax.jit(fn).lower(*args).as_text()


@needs_library
def test_unsupported_convolutions_are_refused():
    x = jnp.ones((1, 6, 6, 4), jnp.float32)
    assert onednn.supports(x, jnp.ones((3, 3, 4, 4)), padding=((1, 1), (1, 1)))
    assert not onednn.supports(x, jnp.ones((3, 3, 4, 4)), padding=((-1, 0), (0, 0)))
    assert not onednn.supports(x, jnp.ones((3, 3, 4, 4), jnp.float16))
    assert not onednn.supports(x, jnp.ones((3, 3, 4, 4)), lhs_dilation=(2, 2))
    assert not onednn.supports(x, jnp.ones((7, 7, 4, 4)))  # empty output
    with pytest.raises(ValueError, match="x, w: oneDNN conv2d takes float32"):
        onednn.conv2d(x.astype(jnp.float16), jnp.ones((3, 3, 4, 4), jnp.float16))


def test_backend_setting_errors(monkeypatch):
    monkeypatch.setenv(CONV_BACKEND_ENV, "mkl")
    with pytest.raises(ValueError, match="JRESTORE_CONV_BACKEND: expected one of auto, xla, onednn, got 'mkl'"):
        conv_backend()
    monkeypatch.setenv(CONV_BACKEND_ENV, "xla")
    assert conv_backend() == "xla"
    with use_conv_backend("onednn"):
        assert conv_backend() == "onednn"
    assert conv_backend() == "xla"
    with pytest.raises(ValueError, match="backend: expected one of auto, xla, onednn, got 'gpu'"):
        with use_conv_backend("gpu"):
            pass


@needs_library
def test_build_is_up_to_date_without_compiling():
    result = build.build()
    assert result == {"built": False, "up_to_date": True, "reason": "up to date"}
