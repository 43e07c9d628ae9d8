"""The framework-neutral part of jrestore.models.ista_net: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.ista_net and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import math

import numpy as np

from jrestore._validate import check_float, check_image, check_positive

__all__ = ["DEFAULT_PHI_SEED", "OFFICIAL_MEASUREMENTS", "check_blocks", "check_measurements", "default_phi",
           "default_qinit", "num_measurements", "sampling_matrices"]


OFFICIAL_MEASUREMENTS = {1: 10, 4: 43, 10: 109, 25: 272, 30: 327, 40: 436, 50: 545}  # ratio (%) -> M, n = 1089


DEFAULT_PHI_SEED = 0


def num_measurements(cs_ratio, block_size: int = 33) -> int:
    """Rows M of the sampling matrix for `cs_ratio` percent of block_size**2 samples."""
    check_positive(cs_ratio, "cs_ratio")
    if cs_ratio > 100:
        raise ValueError(f"cs_ratio: expected a percentage in (0, 100], got {cs_ratio!r}")
    n = block_size * block_size
    if block_size == 33 and cs_ratio in OFFICIAL_MEASUREMENTS:
        return OFFICIAL_MEASUREMENTS[cs_ratio]
    return max(1, int(math.floor(cs_ratio * n / 100 + 0.5)))


def default_phi(cs_ratio=25, block_size: int = 33, seed: int = DEFAULT_PHI_SEED) -> np.ndarray:
    """A deterministic Gaussian sampling matrix with orthonormal rows: float64 [M, block_size**2]."""
    n = block_size * block_size
    m = num_measurements(cs_ratio, block_size)
    g = np.random.default_rng(seed).standard_normal((n, m))
    q, r = np.linalg.qr(g)
    return (q * np.sign(np.diag(r))).T  # sign fix: a unique factorisation, whatever the LAPACK build


def default_qinit(phi: np.ndarray) -> np.ndarray:
    """pinv(Phi), float64 [n, M]: the minimum-norm initial estimate (Phi^T when Phi has orthonormal rows)."""
    return np.linalg.pinv(np.asarray(phi, dtype=np.float64))


def sampling_matrices(cs_ratio, block_size: int, phi=None, qinit=None) -> tuple[np.ndarray, np.ndarray]:
    """Validated (phi [M, n], qinit [n, M]) as float32 NumPy, filling in the defaults."""
    n = block_size * block_size
    m = num_measurements(cs_ratio, block_size)
    phi = default_phi(cs_ratio, block_size) if phi is None else np.asarray(_numpy(phi), dtype=np.float64)
    if phi.shape != (m, n):
        raise ValueError(f"phi: expected shape ({m}, {n}) for cs_ratio={cs_ratio}, block_size={block_size}, "
                         f"got {phi.shape}")
    qinit = default_qinit(phi) if qinit is None else np.asarray(_numpy(qinit), dtype=np.float64)
    if qinit.shape != (n, m):
        raise ValueError(f"qinit: expected shape ({n}, {m}) (the transpose of phi's), got {qinit.shape}")
    return phi.astype(np.float32), qinit.astype(np.float32)


def _numpy(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def check_blocks(x, block_size: int, layout: str = "NHWC") -> None:
    """x must be [N, bs, bs, 1] (NHWC) or [N, 1, bs, bs] (NCHW), floating."""
    check_image(x, "x", layout=layout, channels=1)
    hw = x.shape[1:3] if layout == "NHWC" else x.shape[2:4]
    if tuple(hw) != (block_size, block_size):
        form = f"[N, {block_size}, {block_size}, 1]" if layout == "NHWC" else f"[N, 1, {block_size}, {block_size}]"
        raise ValueError(f"x: expected {block_size}x{block_size} blocks {form}, got shape {tuple(x.shape)}")


def check_measurements(y, m: int) -> None:
    if len(y.shape) != 2 or y.shape[1] != m:
        raise ValueError(f"y: expected measurements of shape [N, {m}], got shape {tuple(y.shape)}")
    check_float(y, "y")
