"""The framework-neutral part of jrestore.models.classical_cs: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.classical_cs and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import functools

import numpy as np

from jrestore._validate import check_choice
from jrestore.core.spec import ModelSpec, ParityCase

__all__ = ["SPECS", "TRANSFORMS", "admm_inverse", "dct_matrix", "haar_matrix", "transform_matrix"]


TRANSFORMS = ("dct", "haar")


def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal 1-D DCT-II matrix, float64 [n, n] (rows are basis vectors)."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d


def haar_matrix(n: int) -> np.ndarray:
    """Orthonormal multi-level 1-D Haar matrix, float64 [n, n], any n (odd lengths carry the last sample)."""
    approx, details = np.eye(n), []
    while approx.shape[0] > 1:
        p = approx.shape[0] // 2
        even, odd = approx[0:2 * p:2], approx[1:2 * p:2]
        details.insert(0, (even - odd) / np.sqrt(2.0))
        carry = approx[2 * p:]  # the unpaired last row when the length is odd
        approx = np.concatenate([(even + odd) / np.sqrt(2.0), carry], axis=0)
    return np.concatenate([approx, *details], axis=0)


@functools.lru_cache(maxsize=8)
def _transform_matrix(name: str, block_size: int) -> np.ndarray:
    d = dct_matrix(block_size) if name == "dct" else haar_matrix(block_size)
    t = np.kron(d, d)  # vec_rowmajor(D X D^T) = kron(D, D) vec_rowmajor(X)
    t.setflags(write=False)
    return t


def transform_matrix(name: str, block_size: int = 33) -> np.ndarray:
    """The 2-D orthonormal transform T, float64 [n, n]: coefficients c = T x for a row-major block x."""
    check_choice(name, "transform", TRANSFORMS)
    return _transform_matrix(name, block_size)


def admm_inverse(phi: np.ndarray, rho: float) -> np.ndarray:
    """(Phi^T Phi + rho I)^-1 in float64, [n, n]."""
    phi = np.asarray(phi, dtype=np.float64)
    return np.linalg.inv(phi.T @ phi + rho * np.eye(phi.shape[1]))


# --- spec (jrestore.core.spec): every block is reconstructed on its own, so tiling is by block ---------------
# Small parity case: 7x7 blocks (jrestore.core.models.ista_net.cs_parity_blocks says why); no parameters.
_CLASSICAL_SMALL = {"num_iters": 10, "transform": "haar", "block_size": 7}


def _block_hw(kw: dict) -> tuple:
    return (kw.get("block_size", 33),) * 2


def _specs():
    from jrestore.core.models.ista_net import cs_parity_blocks

    case = ParityCase(small=_CLASSICAL_SMALL, inputs=cs_parity_blocks, train_mode=False, grad=False)
    return tuple(ModelSpec(name, "cs", needs_weights=False, example_hw=_block_hw, parity=case)
                 for name in ("ista", "admm"))


SPECS = _specs()
