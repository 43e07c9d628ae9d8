"""The framework-neutral part of jrestore.models.ista_net: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.ista_net and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import math

import numpy as np

from jrestore._validate import check_float, check_image, check_positive
from jrestore.core.spec import BenchEntry, MissingWeight, ModelSpec, ParityCase, WeightShapes

__all__ = ["SPECS", "DEFAULT_PHI_SEED", "OFFICIAL_MEASUREMENTS", "check_blocks", "check_measurements", "check_phases",
           "default_phi", "default_qinit", "num_measurements", "sampling_matrices"]


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


def check_phases(phases, num_phases: int) -> int:
    """The number of phases a forward pass runs: `phases` (1 .. num_phases) or num_phases when None."""
    if phases is None:
        return num_phases
    if isinstance(phases, bool) or not isinstance(phases, (int, np.integer)) or not 1 <= phases <= num_phases:
        raise ValueError(f"phases: expected an integer in 1 .. {num_phases} (num_phases) or None, got {phases!r}")
    return int(phases)


# --- spec (jrestore.core.spec) --------------------------------------------------------------------------------
def _weights_rule(s: WeightShapes) -> dict:
    """num_phases from fcs.<i>.*; a learned Phi [M, block_size**2] gives block_size and the CS ratio."""
    phases = s.indices(r"fcs\.(\d+)\..*")
    if not phases:
        raise MissingWeight("fcs.0.*")
    out = {"num_phases": len(phases)}
    if "phi" in s.shapes:  # learn_phi=True makes Phi [M, block_size**2] a parameter
        m, n = s("phi")
        bs = math.isqrt(n)
        if bs * bs == n:
            official = [r for r, mm in OFFICIAL_MEASUREMENTS.items() if mm == m and bs == 33]
            ratio = official[0] if official else 100.0 * m / n
            if num_measurements(ratio, bs) == m:
                out.update(learn_phi=True, block_size=bs, cs_ratio=ratio)
    return out


# Parity: 7x7 blocks, batch 2 (full: the official 33x33 blocks, batch 3), a few values outside [0, 1].
# Measured conditioning (CPU fp32, 24 input/seed pairs each): eval agrees to <= 1.3e-6 and gradients to
# <= 3e-7 everywhere. The one-step Adam check is the fragile one: Adam's first update is
# lr * g / (|g| + 1e-8), whose slope is lr / (4e-8) = 2.5e4 at |g| ~ 1e-8, so an element with |g| ~ 1e-8
# turns a 3e-8 gradient difference into > 1e-5; and a value within float32 rounding of a kink (~5e-7 of 0
# for ReLU, of soft_thr for the threshold) flips a gradient term in one framework only. At 33x33, batch 3,
# 2 phases, about 1 in 10 seeds failed the Adam check that way; at 7x7, batch 2, ISTA-Net 0/24 and
# ISTA-Net+ 4/24 (the pairs the tests use pass).
PARITY_BLOCK = 7


def cs_parity_blocks(rng: np.random.Generator, full: bool) -> tuple:
    """([batch, bs, bs, 1] float32,): 33x33 x 3 when full, else PARITY_BLOCK x PARITY_BLOCK x 2."""
    bs, batch = (33, 3) if full else (PARITY_BLOCK, 2)
    x = rng.random((batch, bs, bs, 1), dtype=np.float32)
    x[0, 0, :3, 0] = (-0.05, 1.05, 1.2)
    return (x,)


def _block_hw(kw: dict) -> tuple:
    return (kw.get("block_size", 33),) * 2


def _specs():
    # With the default Qinit = pinv(Phi) and orthonormal rows, x0 = y Phi already satisfies
    # x0 Phi^T Phi = y Phi, so the first phase's gradient step is exactly zero and so is
    # d loss / d fcs.0.lambda_step; each framework then holds rounding noise (~1e-8) there, which Adam
    # normalises into a full-size step. A Qinit that is not the pseudo-inverse (as the official
    # least-squares one is not) keeps every gradient meaningful.
    qinit = (0.8 * default_phi(25, PARITY_BLOCK).T).astype(np.float32)
    case = ParityCase(small={"num_phases": 2, "block_size": PARITY_BLOCK, "qinit": qinit}, inputs=cs_parity_blocks,
                      train_mode=False)
    plus_bench = (BenchEntry("ista_net_plus", {"num_phases": 9, "cs_ratio": 25}, batch=64, input_hw=(33, 33),
                             recipe="ista_net_plus_r25"),)
    return (ModelSpec("ista_net", "cs", weights_rule=_weights_rule, example_hw=_block_hw, parity=case),
            ModelSpec("ista_net_plus", "cs", weights_rule=_weights_rule, example_hw=_block_hw, parity=case,
                      bench=plus_bench, recipe="ista_net_plus_r25"))


SPECS = _specs()
