"""JAX-only checks of the compressed-sensing family against float64 NumPy references written here."""
import numpy as np
import pytest
import scipy.fft
import skimage.data
import jax
import jax.numpy as jnp
from flax import nnx

from jrestore.models import classical_cs as ccs
from jrestore.models import ista_net as isn


# ---- sampling matrices ----

def test_num_measurements_official_table_and_rule():
    assert [isn.num_measurements(r) for r in (1, 4, 10, 25, 30, 40, 50)] == [10, 43, 109, 272, 327, 436, 545]
    assert isn.num_measurements(20) == 218  # 217.8 -> round half up
    assert isn.num_measurements(25, block_size=32) == 256
    with pytest.raises(ValueError, match=r"cs_ratio: expected a positive value, got 0"):
        isn.num_measurements(0)


def test_shipped_matrices_have_official_row_counts(shared_data):
    import scipy.io as sio
    for r in (10, 25):
        phi = sio.loadmat(shared_data / "cs" / "ista_net" / "sampling_matrix" / f"phi_0_{r}_1089.mat")["phi"]
        assert phi.shape == (isn.num_measurements(r), 1089)


def test_default_phi_is_deterministic_with_orthonormal_rows():
    phi = isn.default_phi(10)
    assert phi.shape == (109, 1089)
    np.testing.assert_allclose(phi @ phi.T, np.eye(109), atol=1e-12)
    np.testing.assert_array_equal(phi, isn.default_phi(10))
    np.testing.assert_allclose(isn.default_qinit(phi), phi.T, atol=1e-12)  # pinv of orthonormal rows


# ---- ISTA-Net / ISTA-Net+ against a float64 NumPy forward ----

def _np_conv(x, w):
    """x [N, H, W, Cin], w HWIO [3, 3, Cin, Cout]: PyTorch conv2d (cross-correlation), padding 1, no bias."""
    n, h, wd, _ = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(np.einsum("nhwc,cd->nhwd", p[:, i:i + h, j:j + wd], w[i, j]) for i in range(3) for j in range(3))


def _np_forward(model, x, plus):
    """The official phase maths (TEST_CS_ISTA_Net{_plus}.py) in float64."""
    relu = lambda v: np.maximum(v, 0)
    soft = lambda v, t: np.sign(v) * relu(np.abs(v) - t)
    phi, qinit = (np.asarray(a, np.float64) for a in model.sampling())
    y = x.reshape(len(x), -1) @ phi.T
    xk, syms = y @ qinit.T, []
    for b in model.fcs:
        g = lambda name: np.asarray(getattr(b, name)[...], np.float64)
        lam, thr = g("lambda_step"), g("soft_thr")
        xk = xk - lam * (xk @ (phi.T @ phi)) + lam * (y @ phi)
        x_in = xk.reshape(-1, 33, 33, 1)
        back = lambda v: _np_conv(relu(_np_conv(v, g("conv1_backward"))), g("conv2_backward"))
        base = _np_conv(x_in, g("conv_D")) if plus else x_in
        x_fwd = _np_conv(relu(_np_conv(base, g("conv1_forward"))), g("conv2_forward"))
        x_bwd = back(soft(x_fwd, thr))
        xk = (x_in + _np_conv(x_bwd, g("conv_G")) if plus else x_bwd).reshape(len(x), -1)
        syms.append(back(x_fwd) - base)
    return xk.reshape(-1, 33, 33, 1), syms


@pytest.mark.parametrize("cls,plus", [(isn.ISTANet, False), (isn.ISTANetPlus, True)])
def test_forward_matches_float64_numpy(cls, plus):
    model = cls(num_phases=2, cs_ratio=10, rngs=nnx.Rngs(3))
    for b in model.fcs:  # move the scalars away from their inits so that each one matters
        b.soft_thr[...] = jnp.array([0.03])
        b.lambda_step[...] = jnp.array([0.8])
    x = np.random.default_rng(0).random((2, 33, 33, 1)).astype(np.float32)
    out, syms = nnx.jit(lambda m, v: m(v))(model, jnp.asarray(x))
    ref, ref_syms = _np_forward(model, x.astype(np.float64), plus)
    np.testing.assert_allclose(np.asarray(out), ref, atol=2e-5)
    assert len(syms) == 2 and syms[0].shape == (2, 33, 33, 32 if plus else 1)
    for s, r in zip(syms, ref_syms):
        np.testing.assert_allclose(np.asarray(s), r, atol=2e-5)


def test_init_follows_official():
    model = isn.ISTANetPlus(num_phases=3, rngs=nnx.Rngs(0))
    b = model.fcs[0]
    assert float(b.lambda_step[0]) == 0.5 and float(b.soft_thr[0]) == pytest.approx(0.01)
    w = np.concatenate([np.asarray(m.conv1_forward[...]).ravel() for m in model.fcs])
    assert np.std(w) == pytest.approx(np.sqrt(2.0 / (64 * 9)), rel=0.03)  # xavier_normal_, 32 -> 32, 3x3
    assert b.conv_D[...].shape == (3, 3, 1, 32) and b.conv_G[...].shape == (3, 3, 32, 1)
    params = nnx.state(model, nnx.Param)
    assert sum(v.size for v in jax.tree_util.tree_leaves(params)) == 3 * (2 + 2 * 288 + 4 * 9216)  # no Phi / Qinit


def test_learned_sampling_is_row_normalised_and_scale_free():
    m = isn.ISTANet(num_phases=1, cs_ratio=10, learn_phi=True, rngs=nnx.Rngs(0))
    assert isinstance(m.phi, nnx.Param)
    x = jnp.asarray(np.random.default_rng(1).random((2, 33, 33, 1), dtype=np.float32))
    before = m(x)[0]
    m.phi[...] = m.phi[...] * jnp.linspace(0.5, 3.0, 109)[:, None]  # per-row scale: removed by normalisation
    np.testing.assert_allclose(np.asarray(m(x)[0]), np.asarray(before), atol=1e-5)
    phi, qinit = m.sampling()
    np.testing.assert_allclose(np.linalg.norm(np.asarray(phi), axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(qinit), np.asarray(phi).T)


# ---- classical solvers ----

def test_transforms_are_orthonormal_and_dct_is_scipy_dct():
    x = np.random.default_rng(2).random((33, 33))
    t = ccs.transform_matrix("dct")
    np.testing.assert_allclose(t @ x.ravel(), scipy.fft.dctn(x, norm="ortho").ravel(), atol=1e-12)
    for name in ccs.TRANSFORMS:
        t = ccs.transform_matrix(name)
        np.testing.assert_allclose(t @ t.T, np.eye(1089), atol=1e-12)
    h = ccs.haar_matrix(4) * 2  # the textbook 4-point Haar basis
    np.testing.assert_allclose(np.abs(h), [[1, 1, 1, 1], [1, 1, 1, 1], [np.sqrt(2)] * 2 + [0, 0], [0, 0] + [np.sqrt(2)] * 2])


REF_BLOCKS = 8


def _camera_blocks():
    crop = skimage.data.camera()[100:298, 150:381].astype(np.float32) / 255  # 6 x 7 blocks
    return crop, crop.reshape(6, 33, 7, 33).transpose(0, 2, 1, 3).reshape(42, 33, 33, 1)


def _psnr(blocks, crop):
    rec = np.asarray(blocks).reshape(6, 7, 33, 33).transpose(0, 2, 1, 3).reshape(198, 231)
    return 10 * np.log10(1.0 / np.mean((np.clip(rec, 0, 1) - crop) ** 2))


def _np_ista(y, phi, t, lam, iters):
    step = 1 / np.linalg.norm(phi, 2) ** 2
    x, objective = np.zeros((len(y), phi.shape[1])), []
    for _ in range(iters):
        c = (x + step * (y - x @ phi.T) @ phi) @ t.T
        x = (np.sign(c) * np.maximum(np.abs(c) - step * lam, 0)) @ t
        objective.append(ccs.cs_objective(x, y, phi, t, lam).sum())
    return x, np.array(objective)


def test_ista_matches_numpy_objective_decreases_and_psnr():
    crop, x = _camera_blocks()
    model = ccs.ISTA(num_iters=100, rngs=nnx.Rngs(0))
    phi, t = (np.asarray(a[...], np.float64) for a in (model.phi, model.basis))
    y = np.asarray(model.measure(jnp.asarray(x)), np.float64)[:REF_BLOCKS]  # the float64 reference is slow
    ref, objective = _np_ista(y, phi, t, model.lam, 100)
    out = np.asarray(nnx.jit(lambda m, v: m(v))(model, jnp.asarray(x))[0])
    np.testing.assert_allclose(out[:REF_BLOCKS].reshape(REF_BLOCKS, -1), ref, atol=1e-4)
    assert np.all(np.diff(objective) < 0) and objective[-1] < 0.3 * objective[0]  # 39.6 -> 7.8
    jax_obj = ccs.cs_objective(out[:REF_BLOCKS], y, phi, t, model.lam).sum()
    assert jax_obj == pytest.approx(objective[-1], rel=1e-4)
    assert _psnr(out, crop) > 21.5  # observed 21.96 dB


@pytest.mark.parametrize("transform,floor", [("dct", 23.0), ("haar", 21.3)])  # observed 23.36 / 21.72 dB
def test_admm_matches_numpy_and_psnr(transform, floor):
    crop, x = _camera_blocks()
    model = ccs.ADMM(transform=transform, rngs=nnx.Rngs(0))
    phi, t = (np.asarray(a[...], np.float64) for a in (model.phi, model.basis))
    y = np.asarray(model.measure(jnp.asarray(x)), np.float64)[:REF_BLOCKS]
    inv, rho, lam = np.linalg.inv(phi.T @ phi + model.rho * np.eye(1089)), model.rho, model.lam
    z = u = np.zeros((REF_BLOCKS, 1089))
    for _ in range(model.num_iters):
        xr = (y @ phi + rho * (z - u) @ t) @ inv
        c = xr @ t.T + u
        z = np.sign(c) * np.maximum(np.abs(c) - lam / rho, 0)
        u = c - z
    out = np.asarray(model(jnp.asarray(x))[0])
    np.testing.assert_allclose(out[:REF_BLOCKS].reshape(REF_BLOCKS, -1), xr, atol=1e-4)
    assert _psnr(out, crop) > floor
