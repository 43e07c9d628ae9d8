"""Twin of jrestore.metrics.psnr on NCHW tensors ([B, C, H, W] or [C, H, W]); knobs and protocols are
jrestore.metrics.protocols (one definition). Same pipeline and formula as jrestore (-10 log10(MSE) on the
x / data_range scale); runs in the inputs' dtype, use float64 for reported numbers."""
from __future__ import annotations

import torch

from jrestore._validate import check_image
from jrestore.core.metrics.protocols import check_pair_shapes, resolve_knobs
from torch_ref.ops.color import rgb_to_y_matlab, rgb_to_y_opencv, rgb_to_y_opencv_uint8, rgb_to_y_yjn870

__all__ = ["psnr", "prepare_pair"]

_Y = {"matlab": rgb_to_y_matlab, "opencv": rgb_to_y_opencv, "yjn870": rgb_to_y_yjn870}


def prepare_pair(a, b, knobs: dict, min_size: int = 1):
    """Checks, then quantize -> Y -> y_round -> crop, on the [0, 1] scale. -> ([B, C', H', W'] x 2, batched).
    Same channel rule as jrestore (protocols.check_pair_shapes): with y_channel set, a 3-channel image may
    face a 1-channel one; each is converted on its own."""
    check_image(a, "a", layout="NCHW", rank=(3, 4))
    check_image(b, "b", layout="NCHW", rank=(3, 4))
    ca, cb = check_pair_shapes(a.shape, b.shape, knobs["y_channel"], layout="NCHW")
    batched = a.dim() == 4
    a, b = (x if batched else x[None] for x in (a, b))
    h, w = a.shape[2:]
    crop = knobs["crop_border"]
    if min(h, w) - 2 * crop < min_size:
        name = "crop_border" if crop else "a"  # blame the crop only when there is one
        raise ValueError(f"{name}: crop_border={crop} on each side of a {h}x{w} image leaves "
                         f"{h - 2 * crop}x{w - 2 * crop}, at least {min_size}x{min_size} needed")
    if ca == cb:  # one code path for both, as in jrestore
        x = _compared_channels(torch.cat([a, b], dim=0), knobs)
        a, b = x[:a.shape[0]], x[a.shape[0]:]
    else:
        a, b = _compared_channels(a, knobs), _compared_channels(b, knobs)
    return a[:, :, crop:h - crop, crop:w - crop], b[:, :, crop:h - crop, crop:w - crop], batched


def _compared_channels(x, knobs):
    """[B, C, H, W] on the data_range scale -> quantized, [0, 1], Y where y_channel is set and C == 3."""
    y_channel = knobs["y_channel"]
    if knobs["data_range"] != 1.0:
        x = x / float(knobs["data_range"])
    if knobs["quantize"] is not None:
        x = torch.clamp(x, 0.0, 1.0)
    if knobs["quantize"] == "round":
        x = torch.round(x * 255.0) / 255.0
    if y_channel == "opencv" and x.shape[1] == 3 and knobs["y_round"]:
        x = rgb_to_y_opencv_uint8(x)
    elif y_channel is not None and x.shape[1] == 3:
        x = _Y[y_channel](x)
        if knobs["y_round"]:
            x = torch.round(x * 255.0) / 255.0
    return x


def psnr(a, b, *, data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None, mse_zero="inf",
         protocol: str | None = None, scale: int | None = None):
    """PSNR in dB per image. a (restored), b (reference): [B, C, H, W] or [C, H, W] float in [0, data_range].

    Returns a 0-d tensor for [C, H, W], a [B] tensor for [B, C, H, W]. Knobs: jrestore.metrics.protocols.
    """
    knobs = resolve_knobs(protocol, scale, data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                          y_round=y_round, quantize=quantize, mse_zero=mse_zero)
    a, b, batched = prepare_pair(a, b, knobs)
    diff = torch.where(a == b, torch.zeros_like(a), a - b)  # as jrestore (guards against FMA contraction)
    mse = torch.mean(diff ** 2, dim=(1, 2, 3))
    value = -10.0 * torch.log10(mse)
    if knobs["mse_zero"] != "inf":
        value = torch.where(mse == 0, torch.full_like(value, float(knobs["mse_zero"])), value)
    return value if batched else value[0]
