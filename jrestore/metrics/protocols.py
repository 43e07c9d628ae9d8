"""Named evaluation protocols (the papers' own test scripts), defined once for jrestore, torch_ref and the
NumPy reference, plus the framework-free check of every metric knob.

The knobs (all explicit, see `psnr` / `ssim`):
  data_range   value of white in the inputs (1.0 for [0, 1] floats, 255.0 for 0..255 floats).
  crop_border  pixels shaved from every side after colour conversion; 'scale' means the `scale` argument.
  y_channel    None (compare all channels) | 'matlab' | 'opencv' | 'yjn870' (jrestore.ops.color); applied to
               3-channel inputs only, 1-channel (grey) inputs are used unchanged.
  y_round      round Y to the uint8 grid (MATLAB rgb2ycbcr on uint8, KAIR); only where Y was computed. With
               'opencv' it is cv2's exact uint8 path instead (RGB to the uint8 grid, 14-bit fixed point).
               MATLAB's Y has exact .5 ties on 194 of the 2^24 uint8 RGB triples; float rounding decides those,
               and in float32 about 1e-5 of the pixels land on the other side of a near tie.
  quantize     None | 'clip' (clip to [0, 1]) | 'round' (round(clip(x, 0, 1) * 255) / 255) on x / data_range,
               applied first (before Y), to BOTH images: the reference is normally on the uint8 grid
               already, where this changes nothing, and the metric stays symmetric. Rounding is
               half-to-even (NumPy/JAX/torch), MATLAB's half-away-from-zero: they differ only on exact ties.
  mse_zero     PSNR of identical images: 'inf' (BasicSR, KAIR) or a number (ISTA-Net returns 100).
  variant      SSIM window: 'gaussian' (Wang et al.: 11x11, sigma 1.5, population covariance; BasicSR
               calculate_ssim, MATLAB ssim_index) | 'skimage' (structural_similarity defaults: 7x7
               uniform, sample covariance).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

from jrestore._validate import check_choice, check_positive

__all__ = ["Protocol", "PROTOCOLS", "get_protocol", "resolve_knobs", "Y_CHANNELS", "QUANTIZE", "VARIANTS"]

Y_CHANNELS = (None, "matlab", "opencv", "yjn870")
QUANTIZE = (None, "clip", "round")
VARIANTS = ("gaussian", "skimage")
DEFAULTS = dict(data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None, mse_zero="inf",
                variant="gaussian")


@dataclass(frozen=True)
class Protocol:
    """One paper's evaluation settings. `description` says what the source script does, `source` cites it."""
    name: str
    description: str
    source: str
    crop_border: int | str = 0
    y_channel: str | None = None
    y_round: bool = False
    quantize: str | None = None
    mse_zero: str | float = "inf"
    variant: str = "gaussian"


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        "selfexsr",
        "SR benchmark (bicubic tables): SR output rounded to uint8 RGB; both images to MATLAB rgb2ycbcr Y on "
        "uint8 (so Y rounded to uint8); shave `scale` pixels on every side; PSNR = 10 log10(255^2 / MSE); "
        "SSIM = ssim_index (11x11 Gaussian, sigma 1.5, valid).",
        "jbhuang0604/SelfExSR quantitative_eval/compute_difference.m",
        crop_border="scale", y_channel="matlab", y_round=True, quantize="round"),
    Protocol(
        "ista_net",
        "Compressed sensing: ground-truth Y from cv2.cvtColor(BGR2YCrCb) on uint8 (full range, uint8; grey "
        "images unchanged; colour inputs get both Ys rounded); reconstruction clipped to [0, 1], NOT rounded; "
        "whole image; PSNR = 20 log10(255 / sqrt(MSE)), 100 when MSE == 0; SSIM = skimage compare_ssim "
        "defaults with data_range=255.",
        "jianzhangcs/ISTA-Net-PyTorch TEST_CS_ISTA_Net_plus.py (psnr())",
        y_channel="opencv", y_round=True, quantize="clip", mse_zero=100.0, variant="skimage"),
    Protocol(
        "kair_dncnn",
        "Denoising: output clipped to [0, 1], times 255, rounded to uint8 (util.single2uint); grey; no border "
        "shave; util.calculate_psnr (inf when MSE == 0) and util.calculate_ssim (11x11 Gaussian, valid).",
        "cszn/KAIR main_test_dncnn.py",
        quantize="round"),
    Protocol(
        "yjn870",
        "FSRCNN re-implementation: Y = 16 + (64.738 R + 129.057 G + 25.064 B) / 256 on float 0..255, / 255; "
        "prediction clamped to [0, 1]; float, no rounding, no shave; calc_psnr = 10 log10(1 / MSE).",
        "yjn870/FSRCNN-pytorch test.py, utils.py (convert_rgb_to_y, calc_psnr)",
        y_channel="yjn870", quantize="clip"),
)}


def get_protocol(name: str) -> Protocol:
    """The registered Protocol called `name`; ValueError listing the valid names otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {sorted(PROTOCOLS)}, got {name!r}")
    return PROTOCOLS[name]


def resolve_knobs(protocol: str | None = None, scale: int | None = None, **knobs) -> dict:
    """Merge a protocol with explicit knobs, check every value, and resolve crop_border='scale'.

    A protocol sets all of its knobs; an explicit knob other than its default next to a protocol is an error
    (silently overriding either would make a number that matches neither). Returns the checked knobs.
    """
    unknown = set(knobs) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"knobs: unexpected {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
    if protocol is not None:
        p = get_protocol(protocol)
        for key, value in knobs.items():
            if key != "data_range" and hasattr(p, key) and value != DEFAULTS[key]:
                raise ValueError(f"{key}: protocol={protocol!r} sets it to {getattr(p, key)!r}; "
                                 f"got {value!r} as well (pass one or the other)")
        knobs = {k: (getattr(p, k) if k != "data_range" and hasattr(p, k) else v) for k, v in knobs.items()}
    if "data_range" in knobs:
        check_positive(knobs["data_range"], "data_range")
    check_choice(knobs.get("y_channel"), "y_channel", Y_CHANNELS)
    check_choice(knobs.get("quantize"), "quantize", QUANTIZE)
    check_choice(knobs.get("y_round", False), "y_round", (False, True))
    check_choice(knobs.get("variant", "gaussian"), "variant", VARIANTS)
    mse_zero = knobs.get("mse_zero", "inf")
    if mse_zero != "inf" and (not isinstance(mse_zero, numbers.Real) or isinstance(mse_zero, bool)):
        raise ValueError(f"mse_zero: expected 'inf' or a number such as 100, got {mse_zero!r}")
    crop = knobs.get("crop_border", 0)
    if crop == "scale":
        if not isinstance(scale, numbers.Integral) or isinstance(scale, bool) or scale < 1:
            raise ValueError(f"scale: crop_border='scale' (protocol={protocol!r}) needs a positive integer scale, "
                             f"got {scale!r}")
        crop = int(scale)
    elif not isinstance(crop, numbers.Integral) or isinstance(crop, bool) or crop < 0:
        raise ValueError(f"crop_border: expected a non-negative integer or 'scale', got {crop!r}")
    knobs["crop_border"] = int(crop)
    return knobs
