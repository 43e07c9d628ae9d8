"""Twin of jrestore.metrics.ssim on NCHW tensors; the windows are jrestore's (NumPy, one definition)."""
from __future__ import annotations

import torch

from jrestore.core.metrics.protocols import resolve_knobs
from jrestore.core.metrics.ssim import K1, K2, ssim_window
from torch_ref.metrics.psnr import prepare_pair

__all__ = ["ssim"]


def _filter_valid(x, w):
    """Separable 'valid' correlation over H and W as shifted, weighted slices. x: [B, C, H, W]."""
    k, (h, wd) = len(w), x.shape[2:]
    rows = sum(float(w[i]) * x[:, :, i:h - k + 1 + i] for i in range(k))
    return sum(float(w[j]) * rows[:, :, :, j:wd - k + 1 + j] for j in range(k))


def ssim(a, b, *, data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None,
         variant="gaussian", protocol: str | None = None, scale: int | None = None):
    """Mean SSIM per image. a, b: [B, C, H, W] or [C, H, W] float in [0, data_range] -> [B] or 0-d tensor."""
    knobs = resolve_knobs(protocol, scale, data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                          y_round=y_round, quantize=quantize, variant=variant)
    w, cov_norm = ssim_window(knobs["variant"])
    a, b, batched = prepare_pair(a, b, knobs, min_size=len(w))
    c = a.shape[1]
    # Moments of the images minus their mean: E[x^2] - mu^2 then cancels no leading digits, so the map no
    # longer depends on float32 rounding details (FMA or not) in bright, flat windows. SSIM's variances and
    # covariance do not change under the shift; the luminance term gets the mean back.
    pivot = b.mean(dim=(2, 3), keepdim=True)
    a, b = a - pivot, b - pivot
    moments = _filter_valid(torch.cat([a, b, a * a, b * b, a * b], dim=1), w)
    mu_a, mu_b, e_aa, e_bb, e_ab = moments.split(c, dim=1)
    var_a = cov_norm * (e_aa - mu_a * mu_a)
    var_b = cov_norm * (e_bb - mu_b * mu_b)
    cov = cov_norm * (e_ab - mu_a * mu_b)
    c1, c2 = K1 ** 2, K2 ** 2
    lum_a, lum_b = mu_a + pivot, mu_b + pivot
    ssim_map = ((2 * lum_a * lum_b + c1) * (2 * cov + c2)) / ((lum_a * lum_a + lum_b * lum_b + c1) * (var_a + var_b + c2))
    value = ssim_map.mean(dim=(1, 2, 3))
    return value if batched else value[0]
