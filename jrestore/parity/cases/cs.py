"""Parity cases for the compressed-sensing family: ISTA-Net, ISTA-Net+ (unfolded) and the classical ISTA / ADMM.

No BatchNorm anywhere (train_mode=False); ISTA / ADMM have no parameters (grad=False). Inputs are blocks in
[0, 1] with a few values outside it: full = the official 33x33 blocks, batch 3; small = 7x7 blocks, batch 2
(the models take any block size; 7x7 keeps the number of values near a ReLU / soft-threshold kink small, see
below).

Measured conditioning of the checks (CPU fp32, 24 input/seed pairs each): eval agrees to <= 1.3e-6 and
gradients to <= 3e-7 everywhere. The one-step Adam check is the fragile one: Adam's first update is
lr * g / (|g| + 1e-8), whose slope is lr / (4e-8) = 2.5e4 at |g| ~ 1e-8, so with gradients of scale ~1e-3
over ~100k conv weights, an element with |g| ~ 1e-8 turns a 3e-8 gradient difference into > 1e-5; and a value
within float32 rounding of a kink (~5e-7 of 0 for ReLU, of soft_thr for the threshold) flips a gradient
term in one framework only. At 33x33, batch 3, 2 phases, about 1 in 10 seeds failed the Adam check that
way; at 7x7, batch 2, ISTA-Net 0/24 and ISTA-Net+ 4/24 (the pairs used by the tests pass).
"""
import numpy as np

from jrestore.models.ista_net import default_phi
from jrestore.parity.model_parity import ModelCase

SMALL_BLOCK = 7
# With the default Qinit = pinv(Phi) and orthonormal rows, x0 = y Phi already satisfies x0 Phi^T Phi = y Phi,
# so the first phase's gradient step is exactly zero and so is d loss / d fcs.0.lambda_step; each framework
# then holds rounding noise (~1e-8) there, which Adam normalises into a full-size step. A Qinit that is not
# the pseudo-inverse (as the official least-squares one is not) keeps every gradient meaningful.
QINIT = (0.8 * default_phi(25, SMALL_BLOCK).T).astype(np.float32)


def blocks(rng: np.random.Generator, full: bool) -> tuple:
    bs, batch = (33, 3) if full else (SMALL_BLOCK, 2)
    x = rng.random((batch, bs, bs, 1), dtype=np.float32)
    x[0, 0, :3, 0] = (-0.05, 1.05, 1.2)
    return (x,)


_UNFOLDED_SMALL = {"num_phases": 2, "block_size": SMALL_BLOCK, "qinit": QINIT}
_CLASSICAL_SMALL = {"num_iters": 10, "transform": "haar", "block_size": SMALL_BLOCK}

CASES = {
    "ista_net": ModelCase(small=_UNFOLDED_SMALL, full={}, inputs=blocks, train_mode=False),
    "ista_net_plus": ModelCase(small=_UNFOLDED_SMALL, full={}, inputs=blocks, train_mode=False),
    "ista": ModelCase(small=_CLASSICAL_SMALL, full={}, inputs=blocks, train_mode=False, grad=False),
    "admm": ModelCase(small=_CLASSICAL_SMALL, full={}, inputs=blocks, train_mode=False, grad=False),
}
