"""ISTA-Net and ISTA-Net+: deep-unfolded ISTA for block compressed sensing.

Paper: J. Zhang and B. Ghanem, "ISTA-Net: Interpretable Optimization-Inspired Deep Network for Image
Compressive Sensing", CVPR 2018.
Numerics match jianzhangcs/ISTA-Net-PyTorch (commit 329249c), `TEST_CS_ISTA_Net_plus.py` (`BasicBlock`,
`ISTANetplus`) and `TEST_CS_ISTA_Net.py` (`BasicBlock`, `ISTANet`); the official checkpoints load by rule
(`jrestore.convert.load_torch_state_dict` strips their `module.` prefix).

Measurement model: a 33x33 block x (flattened row-major to 1089 values) is sampled as y = Phi x with
Phi [M, 1089]; each phase takes a gradient step on 0.5 ||y - Phi x||^2, then a learned transform, a soft
threshold and the learned inverse transform.

Parity notes:
- Blocks are row vectors as in the official code: x0 = y Qinit^T, PhiTPhi = Phi^T Phi, PhiTb = y Phi, and
  x <- x - lambda x PhiTPhi + lambda PhiTb. Reshaping [N, 1089] to [N, 33, 33, 1] (NHWC) is the same
  row-major order as the official `view(-1, 1, 33, 33)`. Every matmul runs at precision HIGHEST (the
  1089x1089 PhiTPhi product is the most TF32/bf16-sensitive operation in the project).
- Convolutions are raw kernels (`ConvKernel`, no bias, padding 1) named exactly as the official
  `nn.Parameter`s; initialisation is xavier_normal_ as in the official code; lambda_step 0.5,
  soft_thr 0.01 (shape (1,)). ReLU follows conv1_forward and conv1_backward only.
- Phi and Qinit are not in the official checkpoints: they are `NonPersistent` constants (torch:
  non-persistent buffers). Pass the official matrices (`phi_0_25_1089.mat` 'phi', `Initialization_Matrix_25.mat`
  'Qinit') to reproduce published numbers.
- Design decisions where no official behaviour exists: the default Phi is a Gaussian matrix with
  orthonormalised rows (the construction of the official matrices, whose rows are orthonormal to 1e-14)
  from a fixed NumPy seed; the default Qinit is pinv(Phi) (= Phi^T for orthonormal rows), because the
  official least-squares Qinit = X Y^T (Y Y^T)^-1 needs the training set. With `learn_phi=True`, Phi is a
  trainable parameter (initialised from `phi` or the default), row-normalised in every forward pass
  (as torch.nn.functional.normalize, eps 1e-12) and Qinit is the normalised Phi^T, so that the
  initialisation stays consistent with the learned sampling (no separate Qinit parameter).
- M for a ratio: the official table {1: 10, 4: 43, 10: 109, 25: 272, 30: 327, 40: 436, 50: 545} (no single
  rounding rule reproduces it: 1 and 4 round down, 10 and 50 round up); other ratios use
  round-half-up(ratio * n / 100).

Seed variants (seed 000, ../shared/seeds; docs/conventions.md §15):
- The phases themselves follow the paper and the official code, not the seed's sketch (its `GradientStep`
  is a conv of x - y, shapes that cannot be subtracted, and its transform pair has no conv_D / conv_G); the
  seed's learnable soft threshold, forward / inverse transform pair F / F~ and unfolded K-phase network are
  the paper's, and `ista_net_plus` is the variant with the residual conv_D / conv_G.
- `learn_phi=True` is the seed's `LearnableSampling` (an nn.Parameter Phi, rows normalised with
  F.normalize(dim=1) in every forward pass; its initial value from `phi`, else the seeded Gaussian matrix
  standing in for the seed's torch.randn); recipe `ista_net_plus_learned_phi_r25`.
- `phases=` in the forward pass (run the first k phases) is what the seed's progressive training needs
  (train/progressive.py, recipe `ista_net_plus_progressive_r25`); None (all phases) is the paper's network.
- `cs_ratio`, `phi`, `qinit`: the official matrices reproduce the published numbers; the seed's per-batch
  random Phi at ratio 0.3 is not a model option (the default Phi is one fixed Gaussian matrix instead).
- `num_phases` (9) and `block_size` (33) are the paper's; the seed's 9 layers agree.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jrestore._validate import check_float, check_image, check_positive
from jrestore.layers.conv import conv2d_nhwc
from jrestore.layers.params import ConvKernel, NonPersistent
from jrestore.models._registry import register
from jrestore.ops import cs_blocks
from jrestore.ops.shrinkage import soft_threshold
from jrestore.core.models.ista_net import (  # noqa: F401  framework-neutral part, shared with torch_ref
    DEFAULT_PHI_SEED, OFFICIAL_MEASUREMENTS, _numpy, check_blocks, check_measurements, check_phases, default_phi,
    default_qinit, num_measurements, sampling_matrices)

__all__ = ["ISTANet", "ISTANetPlus", "BasicBlock", "BasicBlockPlus", "OFFICIAL_MEASUREMENTS", "num_measurements",
           "default_phi", "default_qinit", "sampling_matrices", "check_blocks", "check_measurements"]

HIGHEST = jax.lax.Precision.HIGHEST


# ---- modules ----

def _xavier_normal(key, out_ch: int, in_ch: int, k: int = 3) -> jax.Array:
    """torch.nn.init.xavier_normal_ on an OIHW [out, in, k, k] tensor, stored HWIO."""
    std = math.sqrt(2.0 / ((in_ch + out_ch) * k * k))
    return std * jax.random.normal(key, (k, k, in_ch, out_ch), jnp.float32)


def _conv(x: jax.Array, kernel: ConvKernel) -> jax.Array:
    # through the layers' backend choice, so ISTA-Net's 3x3 convolutions also run on oneDNN on a CPU
    return conv2d_nhwc(x, kernel[...], padding=((1, 1), (1, 1)), precision=HIGHEST)


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.matmul(a, b, precision=HIGHEST)


def _gradient_step(x, lambda_step, phitphi, phitb):
    return x - lambda_step * _mm(x, phitphi) + lambda_step * phitb


class BasicBlock(nnx.Module):
    """One ISTA-Net phase. Call: (x [N, n], PhiTPhi [n, n], PhiTb [N, n]) -> (x [N, n], symloss [N, bs, bs, 1])."""

    def __init__(self, block_size: int = 33, *, rngs: nnx.Rngs):
        self.block_size = block_size
        self.lambda_step = nnx.Param(jnp.full((1,), 0.5, jnp.float32))
        self.soft_thr = nnx.Param(jnp.full((1,), 0.01, jnp.float32))
        self.conv1_forward = ConvKernel(_xavier_normal(rngs.params(), 32, 1))
        self.conv2_forward = ConvKernel(_xavier_normal(rngs.params(), 32, 32))
        self.conv1_backward = ConvKernel(_xavier_normal(rngs.params(), 32, 32))
        self.conv2_backward = ConvKernel(_xavier_normal(rngs.params(), 1, 32))

    def _backward(self, x):
        return _conv(jax.nn.relu(_conv(x, self.conv1_backward)), self.conv2_backward)

    def __call__(self, x, phitphi, phitb):
        bs = self.block_size
        x = _gradient_step(x, self.lambda_step[...], phitphi, phitb)
        x_input = x.reshape(-1, bs, bs, 1)
        x_forward = _conv(jax.nn.relu(_conv(x_input, self.conv1_forward)), self.conv2_forward)
        x_backward = self._backward(soft_threshold(x_forward, self.soft_thr[...]))
        symloss = self._backward(x_forward) - x_input
        return x_backward.reshape(-1, bs * bs), symloss


class BasicBlockPlus(nnx.Module):
    """One ISTA-Net+ phase. Call: (x [N, n], PhiTPhi [n, n], PhiTb [N, n]) -> (x [N, n], symloss [N, bs, bs, 32])."""

    def __init__(self, block_size: int = 33, *, rngs: nnx.Rngs):
        self.block_size = block_size
        self.lambda_step = nnx.Param(jnp.full((1,), 0.5, jnp.float32))
        self.soft_thr = nnx.Param(jnp.full((1,), 0.01, jnp.float32))
        self.conv_D = ConvKernel(_xavier_normal(rngs.params(), 32, 1))
        self.conv1_forward = ConvKernel(_xavier_normal(rngs.params(), 32, 32))
        self.conv2_forward = ConvKernel(_xavier_normal(rngs.params(), 32, 32))
        self.conv1_backward = ConvKernel(_xavier_normal(rngs.params(), 32, 32))
        self.conv2_backward = ConvKernel(_xavier_normal(rngs.params(), 32, 32))
        self.conv_G = ConvKernel(_xavier_normal(rngs.params(), 1, 32))

    def _backward(self, x):
        return _conv(jax.nn.relu(_conv(x, self.conv1_backward)), self.conv2_backward)

    def __call__(self, x, phitphi, phitb):
        bs = self.block_size
        x = _gradient_step(x, self.lambda_step[...], phitphi, phitb)
        x_input = x.reshape(-1, bs, bs, 1)
        x_D = _conv(x_input, self.conv_D)
        x_forward = _conv(jax.nn.relu(_conv(x_D, self.conv1_forward)), self.conv2_forward)
        x_backward = self._backward(soft_threshold(x_forward, self.soft_thr[...]))
        x_pred = x_input + _conv(x_backward, self.conv_G)
        symloss = self._backward(x_forward) - x_D
        return x_pred.reshape(-1, bs * bs), symloss


class _UnfoldedCS(nnx.Module):
    _block_cls = BasicBlock

    def __init__(self, num_phases: int = 9, cs_ratio=25, block_size: int = 33, phi=None, qinit=None,
                 learn_phi: bool = False, *, rngs: nnx.Rngs):
        check_positive(num_phases, "num_phases")
        check_positive(block_size, "block_size")
        if learn_phi and qinit is not None:
            raise ValueError("qinit: expected None with learn_phi=True (Qinit is then the normalised Phi^T), got an array")
        phi_np, qinit_np = sampling_matrices(cs_ratio, block_size, phi, qinit)
        self.num_phases, self.cs_ratio, self.block_size, self.learn_phi = num_phases, cs_ratio, block_size, learn_phi
        self.num_measurements = phi_np.shape[0]
        if learn_phi:
            self.phi = nnx.Param(jnp.asarray(phi_np))
            self.qinit = None
        else:
            self.phi = NonPersistent(jnp.asarray(phi_np))
            self.qinit = NonPersistent(jnp.asarray(qinit_np))
        self.fcs = nnx.List([self._block_cls(block_size, rngs=rngs) for _ in range(num_phases)])

    def sampling(self) -> tuple[jax.Array, jax.Array]:
        """(Phi [M, n], Qinit [n, M]) as used in the forward pass."""
        phi = self.phi[...]
        if not self.learn_phi:
            return phi, self.qinit[...]
        norm = jnp.sqrt(jnp.sum(phi * phi, axis=1, keepdims=True))
        phi = phi / jnp.maximum(norm, 1e-12)
        return phi, phi.T

    def measure(self, x_blocks: jax.Array) -> jax.Array:
        """x_blocks [N, bs, bs, 1] -> y = x Phi^T [N, M]."""
        check_blocks(x_blocks, self.block_size)
        phi, _ = self.sampling()
        return cs_blocks.measure(x_blocks.reshape(x_blocks.shape[0], -1), phi)

    def reconstruct(self, y: jax.Array, phases: int | None = None):
        """y [N, M] -> (x_rec [N, bs, bs, 1], symloss: tuple of one [N, bs, bs, C] per phase run).

        phases: run only the first `phases` phases (progressive training, seed 000); None: all of them."""
        check_measurements(y, self.num_measurements)
        phases = check_phases(phases, self.num_phases)
        phi, qinit = self.sampling()
        phitphi = _mm(phi.T, phi)
        phitb = _mm(y, phi)
        x = cs_blocks.initial_estimate(y, qinit)
        syms = []
        for block in list(self.fcs)[:phases]:
            x, sym = block(x, phitphi, phitb)
            syms.append(sym)
        return x.reshape(-1, self.block_size, self.block_size, 1), tuple(syms)

    def __call__(self, x_blocks: jax.Array, phases: int | None = None):
        """x_blocks [N, bs, bs, 1] float32 in [0, 1] -> (x_rec [N, bs, bs, 1], symloss tuple per phase run);
        phases as in `reconstruct`."""
        return self.reconstruct(self.measure(x_blocks), phases)


@register("ista_net")
class ISTANet(_UnfoldedCS):
    """ISTA-Net (symloss per phase [N, bs, bs, 1]); see the module docstring for arguments."""
    _block_cls = BasicBlock


@register("ista_net_plus")
class ISTANetPlus(_UnfoldedCS):
    """ISTA-Net+ (residual phases with conv_D / conv_G; symloss per phase [N, bs, bs, 32])."""
    _block_cls = BasicBlockPlus
