"""BatchNorm2d with PyTorch's semantics, on NHWC arrays.

Parity notes (style_and_parity.md B5):
- `momentum` is PyTorch's: running = (1 - momentum) * running + momentum * batch (Flax's momentum is
  1 - this, and its default 0.99 would be PyTorch 0.01). `momentum=None` is PyTorch's cumulative
  average: the factor is 1 / num_batches_tracked.
- Normalisation uses the biased batch variance; `running_var` is updated with the unbiased one,
  var * n / (n - 1) with n = B * H * W (Flax stores the biased one).
- The variance is two-pass, mean((x - mean)^2), not E[x^2] - E[x]^2 (Flax's fast variance loses all
  precision on inputs with a large mean).
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

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_image

__all__ = ["BatchNorm2d"]


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
            mean = jnp.mean(xf, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(xf - mean), axis=(0, 1, 2))
            if not self.use_running_average and self.running_mean is not None:
                self._update(mean, var * (n / (n - 1)))
        else:
            mean, var = self.running_mean[...], self.running_var[...]
        y = (xf - mean) * jax.lax.rsqrt(var + self.eps)
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
