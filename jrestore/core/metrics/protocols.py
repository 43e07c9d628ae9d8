"""The framework-neutral part of jrestore.metrics.protocols: its argument checks, constants and NumPy helpers.

Shared by jrestore.metrics.protocols and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from dataclasses import dataclass
import numbers

from jrestore._validate import check_choice, check_positive

__all__ = ["DEFAULTS", "PROTOCOLS", "Protocol", "QUANTIZE", "READ_FILES", "VARIANTS", "Y_CHANNELS",
           "check_pair_shapes", "get_protocol", "resolve_knobs"]


Y_CHANNELS = (None, "matlab", "opencv", "yjn870")


QUANTIZE = (None, "clip", "round")


VARIANTS = ("gaussian", "skimage")


READ_FILES = ("as_stored", "rgb", "cv2_model_channels")


DEFAULTS = dict(data_range=1.0, crop_border=0, y_channel=None, y_round=False, quantize=None, mse_zero="inf",
                variant="gaussian")


@dataclass(frozen=True)
class Protocol:
    """One paper's evaluation settings. `description` says what the source script does, `source` cites it;
    read_files (how the script reads grey and colour files, see the module docstring) is used by the data
    preparation, the other fields are metric knobs."""
    name: str
    description: str
    source: str
    crop_border: int | str = 0
    y_channel: str | None = None
    y_round: bool = False
    quantize: str | None = None
    mse_zero: str | float = "inf"
    variant: str = "gaussian"
    read_files: str = "as_stored"

    def __post_init__(self):
        check_choice(self.read_files, "read_files", READ_FILES)


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        "selfexsr",
        "SR benchmark (bicubic tables): SR output rounded to uint8 RGB; both images to MATLAB rgb2ycbcr Y on "
        "uint8 (so Y rounded to uint8); shave `scale` pixels on every side; PSNR = 10 log10(255^2 / MSE); "
        "SSIM = ssim_index (11x11 Gaussian, sigma 1.5, valid). Y only for images with 3 channels "
        "(`if size(im,3)>1`, each image on its own): a grey file is compared on its own uint8 values.",
        "jbhuang0604/SelfExSR quant_eval/compute_difference.m",
        crop_border="scale", y_channel="matlab", y_round=True, quantize="round"),
    Protocol(
        "ista_net",
        "Compressed sensing: ground-truth Y from cv2.cvtColor(BGR2YCrCb) on uint8 (full range, uint8; grey "
        "images unchanged; colour inputs get both Ys rounded); reconstruction clipped to [0, 1], NOT rounded; "
        "whole image; PSNR = 20 log10(255 / sqrt(MSE)), 100 when MSE == 0; SSIM = skimage compare_ssim "
        "defaults with data_range=255. cv2.imread(imgName, 1) reads every file as 3 channels (grey replicated, "
        "palette expanded), so a grey file's Y is its grey value.",
        "jianzhangcs/ISTA-Net-PyTorch TEST_CS_ISTA_Net_plus.py (psnr())",
        y_channel="opencv", y_round=True, quantize="clip", mse_zero=100.0, variant="skimage", read_files="rgb"),
    Protocol(
        "kair_dncnn",
        "Denoising: output clipped to [0, 1], times 255, rounded to uint8 (util.single2uint); grey; no border "
        "shave; util.calculate_psnr (inf when MSE == 0) and util.calculate_ssim (11x11 Gaussian, valid). "
        "util.imread_uint: one-channel models read cv2.imread(path, 0) (colour files through OpenCV's own "
        "grey conversion), three-channel models cv2.imread(path, -1) with GRAY2RGB for grey files.",
        "cszn/KAIR main_test_dncnn.py, utils/utils_image.py (imread_uint)",
        quantize="round", read_files="cv2_model_channels"),
    Protocol(
        "yjn870",
        "FSRCNN re-implementation: Y = 16 + (64.738 R + 129.057 G + 25.064 B) / 256 on float 0..255, / 255; "
        "prediction clamped to [0, 1]; float, no rounding, no shave; calc_psnr = 10 log10(1 / MSE). "
        "pil_image.open(...).convert('RGB') reads a grey file as R = G = B, so its Y is 16 + 218.859 v / 256.",
        "yjn870/FSRCNN-pytorch test.py, utils.py (convert_rgb_to_y, calc_psnr)",
        y_channel="yjn870", quantize="clip", read_files="rgb"),
)}


def check_pair_shapes(shape_a, shape_b, y_channel, layout: str = "NHWC") -> tuple[int, int]:
    """The channel rule of y_channel, for the jnp, torch and NumPy metrics alike: a and b have the same shape,
    except that with y_channel set one may have 3 channels and the other 1 (each image is converted on its
    own, compute_difference.m style). Returns the channels (of a, of b); ValueError naming the argument else.
    """
    shape_a, shape_b = tuple(shape_a), tuple(shape_b)
    axis = len(shape_a) - 1 if layout == "NHWC" else len(shape_a) - 3
    ca, cb = shape_a[axis], shape_b[axis] if len(shape_b) == len(shape_a) else None
    if y_channel is not None:
        for name, c, shape in (("a", ca, shape_a), ("b", cb, shape_b)):
            if c is not None and c not in (1, 3):
                raise ValueError(f"{name}: y_channel={y_channel!r} needs 1 or 3 channels, got {c} in shape {shape}")
    rest = lambda shape: shape[:axis] + shape[axis + 1:]  # noqa: E731
    if cb is None or rest(shape_a) != rest(shape_b) or (ca != cb and y_channel is None):
        mixed = " (or, with y_channel set, 1 or 3 channels each)" if y_channel is not None else ""
        raise ValueError(f"b: expected the shape of a {shape_a}{mixed}, got {shape_b}")
    return ca, cb


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
