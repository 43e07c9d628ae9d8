"""SSIM (Wang et al. 2004) with the same knobs as psnr (jnp, NHWC).

'gaussian': 11x11 Gaussian window, sigma 1.5, population (co)variances, 'valid' filtering: BasicSR / KAIR
calculate_ssim and MATLAB ssim_index. 'skimage': skimage.metrics.structural_similarity defaults (7x7 uniform
window, sample covariance N/(N-1)); skimage filters the whole image and then drops (win - 1) / 2 pixels on
each side before averaging, which is the 'valid' map used here. Colour: mean of the per-channel means.
C1 = (0.01 L)^2, C2 = (0.03 L)^2; the inputs are brought to the [0, 1] scale, so L = 1 (SSIM is invariant
to scaling images and L together).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jrestore.metrics.protocols import resolve_knobs
from jrestore.metrics.psnr import prepare_pair
from jrestore.core.metrics.ssim import (  # noqa: F401  framework-neutral part, shared with torch_ref
    K1, K2, ssim_window)

__all__ = ["ssim", "ssim_window", "K1", "K2"]


def _filter_valid(x, w):
    """Separable 'valid' correlation over H and W as shifted, weighted slices. x: [B, H, W, C]."""
    k, (h, wd) = len(w), x.shape[1:3]
    rows = sum(float(w[i]) * x[:, i:h - k + 1 + i] for i in range(k))
    return sum(float(w[j]) * rows[:, :, j:wd - k + 1 + j] for j in range(k))


def ssim(a, b, *, data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None,
         variant="gaussian", protocol: str | None = None, scale: int | None = None):
    """Mean SSIM of each image.

    Args:
      a: restored image, [H, W, C] or [B, H, W, C] float in [0, data_range].
      b: reference image, same shape.
      data_range, crop_border, y_channel, y_round, quantize, variant: see jrestore.metrics.protocols.
      protocol, scale: a named protocol (sets the knobs) and the SR factor for crop_border='scale'.
    Returns:
      a scalar for [H, W, C] input, a [B] array for [B, H, W, C]. After cropping, H and W must be at least
      the window size (11 or 7).
    """
    knobs = resolve_knobs(protocol, scale, data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                          y_round=y_round, quantize=quantize, variant=variant)
    w, cov_norm = ssim_window(knobs["variant"])
    a, b, batched = prepare_pair(a, b, knobs, min_size=len(w))
    c = a.shape[-1]
    # Moments of the images minus their mean: E[x^2] - mu^2 then cancels no leading digits, so the map no
    # longer depends on float32 rounding details (FMA or not) in bright, flat windows. SSIM's variances and
    # covariance do not change under the shift; the luminance term gets the mean back.
    pivot = jnp.mean(b, axis=(1, 2), keepdims=True)
    a, b = a - pivot, b - pivot
    moments = _filter_valid(jnp.concatenate([a, b, a * a, b * b, a * b], axis=-1), w)  # one small graph
    mu_a, mu_b, e_aa, e_bb, e_ab = (moments[..., i * c:(i + 1) * c] for i in range(5))
    var_a = cov_norm * (e_aa - mu_a * mu_a)
    var_b = cov_norm * (e_bb - mu_b * mu_b)
    cov = cov_norm * (e_ab - mu_a * mu_b)
    c1, c2 = K1 ** 2, K2 ** 2
    lum_a, lum_b = mu_a + pivot, mu_b + pivot
    ssim_map = ((2 * lum_a * lum_b + c1) * (2 * cov + c2)) / ((lum_a * lum_a + lum_b * lum_b + c1) * (var_a + var_b + c2))
    value = jnp.mean(ssim_map, axis=(1, 2, 3))
    return value if batched else value[0]
