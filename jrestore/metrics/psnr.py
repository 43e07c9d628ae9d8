"""PSNR with every protocol knob explicit (jnp, NHWC). Knobs and named protocols: jrestore.metrics.protocols.

The scripts' formulas 10 log10(255^2 / MSE_255), 20 log10(255 / sqrt(MSE_255)) and 10 log10(1 / MSE_1) are one
number up to float rounding; here it is -10 log10(MSE) on the x / data_range scale. Runs in the inputs' dtype:
use float64 (jax x64) for numbers to report. float32 agrees with the float64 reference to about 1e-5 dB, except
that y_round of a MATLAB / yjn870 Y may flip a near-.5 value by one level (about 1e-5 of pixels;
docs/conventions.md §10).
"""
from __future__ import annotations

import jax.numpy as jnp

from jrestore._validate import check_image
from jrestore.metrics.protocols import check_pair_shapes, resolve_knobs
from jrestore.ops.color import rgb_to_y_matlab, rgb_to_y_opencv, rgb_to_y_opencv_uint8, rgb_to_y_yjn870

__all__ = ["psnr", "prepare_pair"]

_Y = {"matlab": rgb_to_y_matlab, "opencv": rgb_to_y_opencv, "yjn870": rgb_to_y_yjn870}


def prepare_pair(a, b, knobs: dict, min_size: int = 1):
    """Checks, then quantize -> Y -> y_round -> crop, on the [0, 1] scale.

    a, b: [H, W, C] or [B, H, W, C] float, values in [0, data_range]; the same shape, except that with
    y_channel set one may have 3 channels and the other 1 (protocols.check_pair_shapes: Y is taken of each
    3-channel image on its own, a 1-channel image is used unchanged). knobs: from resolve_knobs.
    Returns (a, b) as [B, H', W', C'] and whether the input had a batch axis.
    """
    check_image(a, "a", rank=(3, 4))
    check_image(b, "b", rank=(3, 4))
    ca, cb = check_pair_shapes(a.shape, b.shape, knobs["y_channel"])
    batched = a.ndim == 4
    a, b = (jnp.asarray(x) if batched else jnp.asarray(x)[None] for x in (a, b))
    h, w = a.shape[1:3]
    crop = knobs["crop_border"]
    if min(h, w) - 2 * crop < min_size:
        name = "crop_border" if crop else "a"  # blame the crop only when there is one
        raise ValueError(f"{name}: crop_border={crop} on each side of a {h}x{w} image leaves "
                         f"{h - 2 * crop}x{w - 2 * crop}, at least {min_size}x{min_size} needed")
    if ca == cb:  # one code path: identical inputs round identically
        x = _compared_channels(jnp.concatenate([a, b], axis=0), knobs)
        a, b = x[:a.shape[0]], x[a.shape[0]:]
    else:  # a 3-channel image against a 1-channel one: each on its own (compute_difference.m)
        a, b = _compared_channels(a, knobs), _compared_channels(b, knobs)
    return a[:, crop:h - crop, crop:w - crop, :], b[:, crop:h - crop, crop:w - crop, :], batched


def _compared_channels(x, knobs):
    """[B, H, W, C] on the data_range scale -> quantized, [0, 1], Y where y_channel is set and C == 3."""
    y_channel = knobs["y_channel"]
    if knobs["data_range"] != 1.0:
        x = x / float(knobs["data_range"])
    if knobs["quantize"] is not None:
        x = jnp.clip(x, 0.0, 1.0)
    if knobs["quantize"] == "round":
        x = jnp.round(x * 255.0) / 255.0  # half-to-even; never truncate (astype(uint8))
    if y_channel == "opencv" and x.shape[-1] == 3 and knobs["y_round"]:
        x = rgb_to_y_opencv_uint8(x)  # cv2's exact uint8 path: rounding float Y would hit .5 ties
    elif y_channel is not None and x.shape[-1] == 3:
        x = _Y[y_channel](x)
        if knobs["y_round"]:
            x = jnp.round(x * 255.0) / 255.0
    return x


def psnr(a, b, *, data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None, mse_zero="inf",
         protocol: str | None = None, scale: int | None = None):
    """Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE), MSE over H, W and C of each image.

    Args:
      a: restored image, [H, W, C] or [B, H, W, C] float in [0, data_range].
      b: reference image, same shape.
      data_range, crop_border, y_channel, y_round, quantize, mse_zero: see jrestore.metrics.protocols.
      protocol: a name in PROTOCOLS ('selfexsr', 'ista_net', 'kair_dncnn', 'yjn870'), which sets the knobs.
      scale: SR factor, used where crop_border is 'scale' (protocol 'selfexsr').
    Returns:
      a scalar for [H, W, C] input, a [B] array of per-image values for [B, H, W, C].
    """
    knobs = resolve_knobs(protocol, scale, data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                          y_round=y_round, quantize=quantize, mse_zero=mse_zero)
    a, b, batched = prepare_pair(a, b, knobs)
    # XLA may contract a - b into fma(y_a, 1/255, -(y_b / 255)), non-zero for equal values (331 dB, not inf)
    diff = jnp.where(a == b, jnp.zeros((), a.dtype), a - b)
    mse = jnp.mean(jnp.square(diff), axis=(1, 2, 3))
    value = -10.0 * jnp.log10(mse)  # the inputs are on the [0, 1] scale now; log10(0) = -inf gives +inf
    if knobs["mse_zero"] != "inf":
        value = jnp.where(mse == 0, jnp.asarray(float(knobs["mse_zero"]), value.dtype), value)
    return value if batched else value[0]
