"""BatchNorm2d with PyTorch's semantics, on NHWC arrays.

Parity notes (docs/conventions.md §5):
- `momentum` is PyTorch's: running = (1 - momentum) * running + momentum * batch (Flax's momentum is
  1 - this, and its default 0.99 would be PyTorch 0.01). `momentum=None` is PyTorch's cumulative
  average: the factor is 1 / num_batches_tracked.
- Normalisation uses the biased batch variance; `running_var` is updated with the unbiased one,
  var * n / (n - 1) with n = B * H * W (Flax stores the biased one).
- Batch statistics, and the sums of the backward pass, are exact to float32 whatever order XLA reduces in
  (`accurate_mean`, `batch_norm_train`): Flax's E[x^2] - E[x]^2 loses all precision on inputs with a large
  mean, and even a plain float32 mean makes the result depend on the CPU (PyTorch's CPU kernel sums in
  double).
- Leaves keep PyTorch's names: weight, bias (nnx.Param); running_mean, running_var, num_batches_tracked
  (nnx.BatchStat; the counter is int32 here, int64 in PyTorch; conversion casts).
- Train/eval: the attribute `use_running_average` is what `nnx.Module.train()` / `.eval()` set
  (flax 0.12.8 `Module.train` sets deterministic=False, use_running_average=False). As a torch module, a
  new layer starts in training mode. Without running statistics (track_running_stats=False) batch
  statistics are used in both modes, as in PyTorch.
- Running statistics are updated in place on the module; under `jax.jit` split the state and return it:
  `m = nnx.merge(graphdef, state, copy=True); y = m(x); return y, nnx.state(m)`.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_image

__all__ = ["BatchNorm2d", "accurate_mean", "batch_moments", "batch_norm_train"]


def accurate_mean(v: jax.Array, axis=(0, 1, 2)) -> jax.Array:
    """Mean of v over `axis`, exact to float32 whatever order XLA sums in (corrected two-pass; Chan, Golub &
    LeVeque 1983). A plain float32 mean of values near 300 with spread 0.01 is off by ~1e-4, and by how much
    depends on the CPU's reduction order; PyTorch's CPU kernels avoid it by summing in double. Here a first
    float32 mean is only a pivot: v minus the pivot keeps every digit of the spread (Sterbenz), and the mean
    of those small residuals corrects the pivot to full precision."""
    pivot = jnp.mean(v, axis=axis)
    return pivot + jnp.mean(v - pivot, axis=axis)


def batch_moments(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-channel mean and biased variance of x [B, H, W, C] float32, and x - mean, all exact to float32
    (see `accurate_mean`). Returns (mean [C], var [C], centered [B, H, W, C])."""
    pivot = jnp.mean(x, axis=(0, 1, 2))
    residual = x - pivot
    correction = jnp.mean(residual, axis=(0, 1, 2))
    centered = residual - correction
    return pivot + correction, accurate_mean(jnp.square(centered)), centered


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def batch_norm_train(x: jax.Array, weight: jax.Array, bias: jax.Array, eps: float):
    """Train-mode batch normalisation of x [B, H, W, C] float32 with weight, bias [C].

    Returns (y [B, H, W, C], mean [C], biased var [C]); mean and var are for the running statistics and carry
    no gradient (PyTorch's buffers do not either). The backward pass is written out because autodiff of the
    forward would sum the incoming gradient in plain float32: when that gradient has a large common part
    (a loss on a residual network's output), sum(dy) and sum(dy * x_hat) cancel digits, and on some CPUs'
    reduction orders DnCNN's weight gradients came out 3 % off. These sums go through `accurate_mean`, as
    PyTorch's CPU kernel sums them in double.
    """
    return _batch_norm_fwd(x, weight, bias, eps)[0]


def _batch_norm_fwd(x, weight, bias, eps):
    mean, var, centered = batch_moments(x)
    inv_std = jax.lax.rsqrt(var + eps)
    x_hat = centered * inv_std
    return (x_hat * weight + bias, mean, var), (x_hat, inv_std, weight)


def _batch_norm_bwd(eps, residuals, cotangents):
    x_hat, inv_std, weight = residuals
    dy = cotangents[0]  # the cotangents of mean and var are ignored: they only feed the running statistics
    n = dy.shape[0] * dy.shape[1] * dy.shape[2]
    dy_mean = accurate_mean(dy)
    dy_centered = dy - dy_mean
    projection = accurate_mean(dy_centered * x_hat)  # = mean(dy * x_hat), since x_hat sums to zero
    dx = (dy_centered - x_hat * projection) * (inv_std * weight)
    return dx, n * projection, n * dy_mean


batch_norm_train.defvjp(_batch_norm_fwd, _batch_norm_bwd)


class BatchNorm2d(nnx.Module):
    """torch.nn.BatchNorm2d: x [B, H, W, num_features] float -> same shape.

    Args mirror torch.nn.BatchNorm2d. `use_running_average` (keyword) is the NNX mode switch: False is
    PyTorch's train mode, True its eval mode. `rngs` is accepted for uniformity and unused.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, use_running_average: bool = False,
                 rngs: nnx.Rngs | None = None):
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features: expected a positive int, got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum: expected None or a value in [0, 1] (PyTorch convention), got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"eps: expected a positive value, got {eps!r}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.use_running_average = use_running_average
        c = num_features
        self.weight = nnx.Param(jnp.ones((c,), jnp.float32)) if affine else None
        self.bias = nnx.Param(jnp.zeros((c,), jnp.float32)) if affine else None
        if track_running_stats:
            self.running_mean = nnx.BatchStat(jnp.zeros((c,), jnp.float32))
            self.running_var = nnx.BatchStat(jnp.ones((c,), jnp.float32))
            self.num_batches_tracked = nnx.BatchStat(jnp.zeros((), jnp.int32))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def __call__(self, x: jax.Array) -> jax.Array:
        check_image(x, "x", channels=self.num_features)
        xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        use_batch = not self.use_running_average or self.running_mean is None
        if use_batch:
            n = x.shape[0] * x.shape[1] * x.shape[2]
            if n < 2:  # PyTorch: "Expected more than 1 value per channel when training"
                raise ValueError(f"x: batch statistics need more than 1 value per channel, got shape {tuple(x.shape)}")
            ones = jnp.ones((self.num_features,), xf.dtype)
            weight = self.weight[...] if self.weight is not None else ones
            bias = self.bias[...] if self.bias is not None else ones * 0
            y, mean, var = batch_norm_train(xf, weight, bias, self.eps)
            if not self.use_running_average and self.running_mean is not None:
                self._update(mean, var * (n / (n - 1)))
            return y.astype(x.dtype)
        y = (xf - self.running_mean[...]) * jax.lax.rsqrt(self.running_var[...] + self.eps)
        if self.weight is not None:
            y = y * self.weight[...] + self.bias[...]
        return y.astype(x.dtype)

    def _update(self, mean: jax.Array, unbiased_var: jax.Array) -> None:
        count = self.num_batches_tracked[...] + 1
        self.num_batches_tracked[...] = count
        if self.momentum is None:
            factor = 1.0 / count.astype(jnp.float32)
        else:
            factor = self.momentum
        mean, unbiased_var = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(unbiased_var)
        rm, rv = self.running_mean[...], self.running_var[...]
        self.running_mean[...] = ((1 - factor) * rm + factor * mean).astype(rm.dtype)
        self.running_var[...] = ((1 - factor) * rv + factor * unbiased_var).astype(rv.dtype)
