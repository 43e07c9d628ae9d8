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
from jrestore.parity.tolerances import FLOAT64, INIT_STD, ISTA_FLOAT32, LAYER, MODEL, OP


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
    np.testing.assert_allclose(phi @ phi.T, np.eye(109), atol=FLOAT64)
    np.testing.assert_array_equal(phi, isn.default_phi(10))
    np.testing.assert_allclose(isn.default_qinit(phi), phi.T, atol=FLOAT64)  # pinv of orthonormal rows


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
    np.testing.assert_allclose(np.asarray(out), ref, atol=ISTA_FLOAT32)
    assert len(syms) == 2 and syms[0].shape == (2, 33, 33, 32 if plus else 1)
    for s, r in zip(syms, ref_syms):
        np.testing.assert_allclose(np.asarray(s), r, atol=ISTA_FLOAT32)


def test_init_follows_official():
    model = isn.ISTANetPlus(num_phases=3, rngs=nnx.Rngs(0))
    b = model.fcs[0]
    assert float(b.lambda_step[0]) == 0.5 and float(b.soft_thr[0]) == pytest.approx(0.01)
    w = np.concatenate([np.asarray(m.conv1_forward[...]).ravel() for m in model.fcs])
    assert np.std(w) == pytest.approx(np.sqrt(2.0 / (64 * 9)), rel=INIT_STD)  # xavier_normal_, 32 -> 32, 3x3
    assert b.conv_D[...].shape == (3, 3, 1, 32) and b.conv_G[...].shape == (3, 3, 32, 1)
    params = nnx.state(model, nnx.Param)
    assert sum(v.size for v in jax.tree_util.tree_leaves(params)) == 3 * (2 + 2 * 288 + 4 * 9216)  # no Phi / Qinit


def test_learned_sampling_is_row_normalised_and_scale_free():
    m = isn.ISTANet(num_phases=1, cs_ratio=10, learn_phi=True, rngs=nnx.Rngs(0))
    assert isinstance(m.phi, nnx.Param)
    x = jnp.asarray(np.random.default_rng(1).random((2, 33, 33, 1), dtype=np.float32))
    before = m(x)[0]
    m.phi[...] = m.phi[...] * jnp.linspace(0.5, 3.0, 109)[:, None]  # per-row scale: removed by normalisation
    np.testing.assert_allclose(np.asarray(m(x)[0]), np.asarray(before), atol=LAYER)
    phi, qinit = m.sampling()
    np.testing.assert_allclose(np.linalg.norm(np.asarray(phi), axis=1), 1.0, atol=OP)
    np.testing.assert_array_equal(np.asarray(qinit), np.asarray(phi).T)


# ---- classical solvers ----

def test_transforms_are_orthonormal_and_dct_is_scipy_dct():
    x = np.random.default_rng(2).random((33, 33))
    t = ccs.transform_matrix("dct")
    np.testing.assert_allclose(t @ x.ravel(), scipy.fft.dctn(x, norm="ortho").ravel(), atol=FLOAT64)
    for name in ccs.TRANSFORMS:
        t = ccs.transform_matrix(name)
        np.testing.assert_allclose(t @ t.T, np.eye(1089), atol=FLOAT64)
    h = ccs.haar_matrix(4) * 2  # the textbook 4-point Haar basis
    np.testing.assert_allclose(np.abs(h), [[1, 1, 1, 1], [1, 1, 1, 1], [np.sqrt(2)] * 2 + [0, 0], [0, 0] + [np.sqrt(2)] * 2])


REF_BLOCKS = 8


def _camera_blocks():
    crop = skimage.data.camera()[100:298, 150:381].astype(np.float32) / 255  # 6 x 7 blocks
    return crop, crop.reshape(6, 33, 7, 33).transpose(0, 2, 1, 3).reshape(42, 33, 33, 1)


def _psnr(blocks, crop):
    rec = np.asarray(blocks).reshape(6, 7, 33, 33).transpose(0, 2, 1, 3).reshape(198, 231)
    return 10 * np.log10(1.0 / np.mean((np.clip(rec, 0, 1) - crop) ** 2))


# The float64 references below share nothing with the model but the formulas in its docstring: their own
# sampling matrix (a Gaussian made here and handed to the model, whose float32 copy the reference uses), their
# own transforms (scipy's orthonormal DCT-II on each 33x33 block; a multi-level Haar written per axis from
# the docstring's rule), y = x Phi^T and the objective computed here.

def _test_phi(ratio=25):
    m = isn.num_measurements(ratio)
    return (np.random.default_rng(11).normal(size=(m, 1089)) / np.sqrt(1089)).astype(np.float32).astype(np.float64)


def _haar_1d(v):
    """Orthonormal multi-level Haar along the last axis of v (length n, any n): each level pairs (a, b) ->
    (a + b) / sqrt 2 (approximation), (a - b) / sqrt 2 (detail); an odd length's last sample joins the next
    level's approximation. Coefficient order does not matter here: soft thresholding is blind to it."""
    approx, details = v, []
    while approx.shape[-1] > 1:
        p = approx.shape[-1] // 2
        a, b = approx[..., 0:2 * p:2], approx[..., 1:2 * p:2]
        details.append((a - b) / np.sqrt(2))
        approx = np.concatenate([(a + b) / np.sqrt(2), approx[..., 2 * p:]], axis=-1)
    return np.concatenate([approx] + details[::-1], axis=-1)


def _haar_matrix_from_rule(n=33):
    return _haar_1d(np.eye(n)).T  # column j is the transform of the unit vector e_j: rows are basis vectors


def _transforms(name):
    """(forward, inverse) on [N, 1089] row-major blocks, float64."""
    if name == "dct":
        fwd = lambda x: scipy.fft.dctn(x.reshape(-1, 33, 33), norm="ortho", axes=(1, 2)).reshape(len(x), -1)
        inv = lambda c: scipy.fft.idctn(c.reshape(-1, 33, 33), norm="ortho", axes=(1, 2)).reshape(len(c), -1)
        return fwd, inv
    h = _haar_matrix_from_rule()
    fwd = lambda x: (h @ x.reshape(-1, 33, 33) @ h.T).reshape(len(x), -1)  # H X H^T on each block
    inv = lambda c: (h.T @ c.reshape(-1, 33, 33) @ h).reshape(len(c), -1)
    return fwd, inv


def _soft(c, thr):
    return np.sign(c) * np.maximum(np.abs(c) - thr, 0)


def _objective(x, y, phi, fwd, lam):
    return float(np.sum(0.5 * np.sum((y - x @ phi.T) ** 2, axis=1) + lam * np.sum(np.abs(fwd(x)), axis=1)))


def test_independent_haar_rule_is_orthonormal_and_agrees_with_the_model_up_to_order_and_sign():
    h = _haar_matrix_from_rule()
    np.testing.assert_allclose(h @ h.T, np.eye(33), atol=FLOAT64)
    # the model's basis may order or sign its rows differently (thresholding does not care): compare as sets
    ours = {tuple(np.round(np.abs(r), 9)) for r in ccs.haar_matrix(33)}
    assert ours == {tuple(np.round(np.abs(r), 9)) for r in h}


@pytest.mark.parametrize("transform", ["dct", "haar"])
def test_ista_matches_independent_numpy_and_objective_decreases(transform):
    crop, x = _camera_blocks()
    phi, (fwd, inv) = _test_phi(), _transforms(transform)
    model = ccs.ISTA(transform=transform, num_iters=100, phi=phi, rngs=nnx.Rngs(0))
    x64 = x[:REF_BLOCKS].reshape(REF_BLOCKS, -1).astype(np.float64)
    y = x64 @ phi.T
    step, lam = 1 / np.linalg.norm(phi, 2) ** 2, model.lam
    ref, objective = np.zeros_like(x64), []
    for _ in range(100):
        ref = inv(_soft(fwd(ref + step * (y - ref @ phi.T) @ phi), step * lam))
        objective.append(_objective(ref, y, phi, fwd, lam))
    out = np.asarray(nnx.jit(lambda m, v: m(v))(model, jnp.asarray(x))[0])
    np.testing.assert_allclose(out[:REF_BLOCKS].reshape(REF_BLOCKS, -1), ref, atol=MODEL)
    assert np.all(np.diff(objective) < 0) and objective[-1] < 0.5 * objective[0]
    assert _objective(out[:REF_BLOCKS].reshape(REF_BLOCKS, -1).astype(np.float64), y, phi, fwd, lam) == \
        pytest.approx(objective[-1], rel=MODEL)
    # No published PSNR exists for this setting, so no dB floor; the sparsity prior must at least beat the
    # minimum-norm solution pinv(Phi) y of the same measurements.
    min_norm = np.asarray(x).reshape(42, -1).astype(np.float64) @ phi.T @ np.linalg.pinv(phi).T
    assert _psnr(out, crop) > _psnr(min_norm, crop) + 1.0


@pytest.mark.parametrize("transform", ["dct", "haar"])
def test_admm_matches_independent_numpy(transform):
    crop, x = _camera_blocks()
    phi, (fwd, inv) = _test_phi(), _transforms(transform)
    model = ccs.ADMM(transform=transform, phi=phi, rngs=nnx.Rngs(0))
    x64 = x[:REF_BLOCKS].reshape(REF_BLOCKS, -1).astype(np.float64)
    y, rho, lam = x64 @ phi.T, model.rho, model.lam
    solve = np.linalg.inv(phi.T @ phi + rho * np.eye(1089))
    z = u = np.zeros_like(x64)
    for _ in range(model.num_iters):
        xr = (y @ phi + rho * inv(z - u)) @ solve
        c = fwd(xr) + u
        z = _soft(c, lam / rho)
        u = c - z
    out = np.asarray(model(jnp.asarray(x))[0])
    np.testing.assert_allclose(out[:REF_BLOCKS].reshape(REF_BLOCKS, -1), xr, atol=MODEL)
    min_norm = np.asarray(x).reshape(42, -1).astype(np.float64) @ phi.T @ np.linalg.pinv(phi).T
    assert _psnr(out, crop) > _psnr(min_norm, crop) + 1.0
