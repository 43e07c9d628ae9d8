"""Float64 NumPy references for psnr / ssim, written independently of the jnp and torch versions.

They work on the 0..255 scale like the papers' scripts (the jnp/torch versions work on [0, 1]), spell out
each colour formula, and filter with explicit 2-D windows over sliding views, one image and channel at a
time. Same knobs and protocols (jrestore.metrics.protocols); NHWC: [H, W, C] or [B, H, W, C]. Each image is
converted on its own (Y only where it has 3 channels), so a 3-channel image may face a 1-channel one.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from jrestore._validate import check_image
from jrestore.metrics.protocols import check_pair_shapes, resolve_knobs

__all__ = ["psnr_reference", "ssim_reference"]


def _y255(x, kind):
    """Y on the 0..255 scale of an RGB image x on the 0..255 scale, [H, W, 3] -> [H, W, 1]."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    if kind == "matlab":  # rgb2ycbcr.m on [0, 1] input: 16 + 65.481 R + 128.553 G + 24.966 B
        y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    elif kind == "opencv":
        y = 0.299 * r + 0.587 * g + 0.114 * b
    else:  # yjn870 utils.convert_rgb_to_y
        y = 16.0 + (64.738 * r + 129.057 * g + 25.064 * b) / 256.0
    return y[..., None]


def _prepare(a, b, knobs, min_size=1):
    check_image(a, "a", rank=(3, 4))
    check_image(b, "b", rank=(3, 4))
    check_pair_shapes(a.shape, b.shape, knobs["y_channel"])  # with y_channel, 3 channels may face 1
    a, b = (np.asarray(x, np.float64) for x in (a, b))
    batched = a.ndim == 4
    pairs = []
    for xa, xb in zip(a if batched else [a], b if batched else [b]):
        pair = []
        for x in (xa, xb):
            x = x * (255.0 / knobs["data_range"])
            if knobs["quantize"] is not None:
                x = np.clip(x, 0.0, 255.0)
            if knobs["quantize"] == "round":
                x = np.round(x)
            if knobs["y_channel"] == "opencv" and knobs["y_round"] and x.shape[-1] == 3:
                q = np.round(np.clip(x, 0, 255)).astype(np.int64)  # cv2.cvtColor on uint8, integer arithmetic
                x = ((q[..., :1] * 4899 + q[..., 1:2] * 9617 + q[..., 2:] * 1868 + 8192) >> 14).astype(np.float64)
            elif knobs["y_channel"] is not None and x.shape[-1] == 3:
                x = _y255(x, knobs["y_channel"])
                if knobs["y_round"]:
                    x = np.round(x)
            c = knobs["crop_border"]
            if min(x.shape[0], x.shape[1]) - 2 * c < min_size:
                raise ValueError(f"{'crop_border' if c else 'a'}: crop_border={c} leaves less than "
                                 f"{min_size}x{min_size} of {x.shape[:2]}")
            pair.append(x[c:x.shape[0] - c, c:x.shape[1] - c])
        pairs.append(pair)
    return pairs, batched


def psnr_reference(a, b, *, data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None,
                   mse_zero="inf", protocol=None, scale=None):
    """PSNR = 10 log10(255^2 / MSE) per image; a float for [H, W, C], a [B] float64 array for a batch."""
    knobs = resolve_knobs(protocol, scale, data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                          y_round=y_round, quantize=quantize, mse_zero=mse_zero)
    pairs, batched = _prepare(a, b, knobs)
    out = []
    for x, y in pairs:
        mse = np.mean((x - y) ** 2)
        if mse == 0:
            out.append(np.inf if knobs["mse_zero"] == "inf" else float(knobs["mse_zero"]))
        else:
            out.append(10.0 * np.log10(255.0 ** 2 / mse))
    return np.array(out) if batched else out[0]


def _window2d(variant):
    if variant == "gaussian":
        g = np.array([np.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)) for i in range(11)])
        win = np.outer(g, g)
        return win / win.sum(), False
    return np.ones((7, 7)) / 49.0, True


def _ssim_channel(x, y, win, sample_cov):
    def filt(img):  # 'valid' weighted mean over every window position
        return np.einsum("ijkl,kl->ij", sliding_window_view(img, win.shape), win)

    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx ** 2, filt(y * y) - my ** 2, filt(x * y) - mx * my
    if sample_cov:
        n = win.size
        vx, vy, cxy = vx * n / (n - 1), vy * n / (n - 1), cxy * n / (n - 1)
    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean()


def ssim_reference(a, b, *, data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None,
                   variant="gaussian", protocol=None, scale=None):
    """Mean SSIM per image (mean over channels of each channel's mean), L = 255 on the 0..255 scale."""
    knobs = resolve_knobs(protocol, scale, data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                          y_round=y_round, quantize=quantize, variant=variant)
    win, sample_cov = _window2d(knobs["variant"])
    pairs, batched = _prepare(a, b, knobs, min_size=win.shape[0])
    out = [np.mean([_ssim_channel(x[..., k], y[..., k], win, sample_cov) for k in range(x.shape[-1])])
           for x, y in pairs]
    return np.array(out) if batched else float(out[0])
