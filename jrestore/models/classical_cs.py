"""Classical block compressed-sensing solvers: ISTA and ADMM with a fixed orthonormal sparsifying transform.

They solve  min_x 0.5 ||y - Phi x||^2 + lam ||T x||_1  per block (y = Phi x, Phi [M, n], n = bs**2, x the
block flattened row-major), the baselines ISTA-Net unfolds (Zhang & Ghanem, CVPR 2018, Sec. 3):
- ISTA (Daubechies, Defrise & De Mol 2004; Beck & Teboulle 2009): from x = 0,
  x <- T^T soft(T (x + s Phi^T (y - Phi x)), s lam), s = 1 / ||Phi||_2^2.
- ADMM (Boyd et al. 2011, scaled form, splitting z = T x; z = u = 0 at the start):
  x <- (Phi^T Phi + rho I)^-1 (Phi^T y + rho T^T (z - u)), z <- soft(T x + u, lam / rho), u <- u + T x - z.
No PyTorch reference exists; torch_ref.models.classical_cs is the twin written from these formulas.

Parity notes: the transforms and (Phi^T Phi + rho I)^-1 are built once in NumPy float64 (shared with
torch_ref, so both frameworks use identical float32 constants) and kept as `NonPersistent` constants; the
iterations run in float32 with matmul precision HIGHEST under `jax.lax.fori_loop`. Transforms:
'dct' is the 2-D orthonormal DCT-II of the block (kron(D, D) for row-major flattening); 'haar' is a
multi-level orthonormal Haar transform per axis (kron(H, H)), which for an odd length (33) pairs samples
(a + b) / sqrt(2), (a - b) / sqrt(2) and carries the unpaired last sample into the next level's
approximation, so it stays orthonormal. Defaults (lam 0.03 for ISTA; lam 0.01, rho 0.03 for ADMM) were
chosen on a cameraman crop at ratio 25 (about 22.0 dB ISTA, 23.4 dB ADMM with DCT).
T is the `basis` attribute (a constant), Phi is `phi`, the ADMM inverse is `inverse`. The model-call
signature mirrors ISTA-Net: model(x_blocks) -> (x_rec, ()), or model.reconstruct(y).

Seed variants (seed 000): `ISTA` is the seed's "传统ISTA" pseudo-code (gradient step, then soft
threshold) with an orthonormal sparsifying transform it leaves implicit (`transform` 'dct' or 'haar'; the
seed thresholds the pixels themselves, which no option reproduces); `ADMM` is the seed table's "传统ADMM" row,
which the seed does not spell out (standard scaled ADMM here). `lam`, `rho`, `num_iters` are not in the seed.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jrestore._validate import check_choice, check_positive
from jrestore.layers.params import NonPersistent
from jrestore.models._registry import register
from jrestore.models.ista_net import check_blocks, check_measurements, sampling_matrices
from jrestore.ops import cs_blocks
from jrestore.ops.shrinkage import soft_threshold
from jrestore.core.models.classical_cs import (  # noqa: F401  framework-neutral part, shared with torch_ref
    TRANSFORMS, _transform_matrix, admm_inverse, dct_matrix, haar_matrix, transform_matrix)

__all__ = ["ISTA", "ADMM", "TRANSFORMS", "dct_matrix", "haar_matrix", "transform_matrix", "admm_inverse",
           "cs_objective"]

HIGHEST = jax.lax.Precision.HIGHEST


# ---- framework-free NumPy helpers (shared with torch_ref) ----


def cs_objective(x: np.ndarray, y: np.ndarray, phi: np.ndarray, t: np.ndarray, lam: float) -> np.ndarray:
    """Per-block 0.5 ||y - Phi x||^2 + lam ||T x||_1 in float64; x [N, n], y [N, M] -> [N]."""
    x, y = np.asarray(x, np.float64).reshape(len(x), -1), np.asarray(y, np.float64)
    r = y - x @ np.asarray(phi, np.float64).T
    return 0.5 * np.sum(r * r, axis=1) + lam * np.sum(np.abs(x @ np.asarray(t, np.float64).T), axis=1)


# ---- modules ----

def _mm(a, b):
    return jnp.matmul(a, b, precision=HIGHEST)


class _ClassicalCS(nnx.Module):
    def __init__(self, cs_ratio, block_size: int, transform: str, num_iters: int, lam: float, phi):
        check_choice(transform, "transform", TRANSFORMS)
        check_positive(num_iters, "num_iters")
        check_positive(lam, "lam", strict=False)
        phi_np, _ = sampling_matrices(cs_ratio, block_size, phi)
        self.cs_ratio, self.block_size, self.transform = cs_ratio, block_size, transform
        self.num_iters, self.lam = int(num_iters), float(lam)
        self.num_measurements = phi_np.shape[0]
        self.phi = NonPersistent(jnp.asarray(phi_np))
        self.basis = NonPersistent(jnp.asarray(transform_matrix(transform, block_size), jnp.float32))

    def measure(self, x_blocks: jax.Array) -> jax.Array:
        """x_blocks [N, bs, bs, 1] -> y = x Phi^T [N, M]."""
        check_blocks(x_blocks, self.block_size)
        return cs_blocks.measure(x_blocks.reshape(x_blocks.shape[0], -1), self.phi[...])

    def __call__(self, x_blocks: jax.Array):
        """x_blocks [N, bs, bs, 1] float32 -> (x_rec [N, bs, bs, 1], ())."""
        return self.reconstruct(self.measure(x_blocks))

    def _out(self, x):
        return x.reshape(-1, self.block_size, self.block_size, 1), ()


@register("ista")
class ISTA(_ClassicalCS):
    """ISTA with an orthonormal block transform; call model(x_blocks) or model.reconstruct(y [N, M])."""

    def __init__(self, cs_ratio=25, block_size: int = 33, transform: str = "dct", num_iters: int = 100,
                 lam: float = 0.03, phi=None, *, rngs: nnx.Rngs | None = None):
        super().__init__(cs_ratio, block_size, transform, num_iters, lam, phi)
        phi_np = np.asarray(self.phi[...], np.float64)
        self.step = float(1.0 / np.linalg.norm(phi_np, 2) ** 2)

    def reconstruct(self, y: jax.Array):
        check_measurements(y, self.num_measurements)
        phi, t = self.phi[...], self.basis[...]
        step, thr = self.step, self.step * self.lam

        def body(_, x):
            r = x + step * _mm(y - _mm(x, phi.T), phi)
            return _mm(soft_threshold(_mm(r, t.T), thr), t)

        x0 = jnp.zeros((y.shape[0], phi.shape[1]), y.dtype)
        return self._out(jax.lax.fori_loop(0, self.num_iters, body, x0))


@register("admm")
class ADMM(_ClassicalCS):
    """ADMM with an orthonormal block transform; call model(x_blocks) or model.reconstruct(y [N, M])."""

    def __init__(self, cs_ratio=25, block_size: int = 33, transform: str = "dct", num_iters: int = 50,
                 lam: float = 0.01, rho: float = 0.03, phi=None, *, rngs: nnx.Rngs | None = None):
        super().__init__(cs_ratio, block_size, transform, num_iters, lam, phi)
        check_positive(rho, "rho")
        self.rho = float(rho)
        self.inverse = NonPersistent(jnp.asarray(admm_inverse(np.asarray(self.phi[...]), self.rho), jnp.float32))

    def reconstruct(self, y: jax.Array):
        check_measurements(y, self.num_measurements)
        phi, t, inv, rho = self.phi[...], self.basis[...], self.inverse[...], self.rho
        phitb = _mm(y, phi)

        def body(_, carry):
            z, u = carry
            x = _mm(phitb + rho * _mm(z - u, t), inv)
            tx = _mm(x, t.T)
            z = soft_threshold(tx + u, self.lam / rho)
            return z, u + tx - z

        zeros = jnp.zeros((y.shape[0], phi.shape[1]), y.dtype)
        z, u = jax.lax.fori_loop(0, self.num_iters - 1, body, (zeros, zeros))
        return self._out(_mm(phitb + rho * _mm(z - u, t), inv))
