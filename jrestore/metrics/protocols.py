"""Named evaluation protocols (the papers' own test scripts), defined once for jrestore, torch_ref and the
NumPy reference, plus the framework-free check of every metric knob.

The knobs (all explicit, see `psnr` / `ssim`):
  data_range   value of white in the inputs (1.0 for [0, 1] floats, 255.0 for 0..255 floats).
  crop_border  pixels shaved from every side after colour conversion; 'scale' means the `scale` argument.
  y_channel    None (compare all channels) | 'matlab' | 'opencv' | 'yjn870' (jrestore.ops.color); applied to
               each image on its own, and only where that image has 3 channels: a 1-channel image (a grey
               image or a Y plane already) is used unchanged. So a 3-channel output against a 1-channel
               reference compares the output's Y with the reference's values, as SelfExSR's
               compute_difference.m does (`if size(im,3)>1` for im and for imgt separately). Without
               y_channel both images must have the same channels.
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

Reading files (data preparation, jrestore.evaluation.protocol_data; not a metric knob). `read_files` says how
the source script reads a file, which decides what a grey file is compared on:
  'as_stored'           MATLAB imread: a grey file is H x W, an RGB file H x W x 3. With the per-image Y rule
                        above, a grey file is compared on its own values (no 16..235 Y).
  'rgb'                 every file as RGB (cv2.imread(path, 1); PIL .convert('RGB')): a grey file is R = G = B
                        and goes through the protocol's Y like any colour image.
  'cv2_model_channels'  KAIR util.imread_uint(path, n_channels) with the model's channels: 1 ->
                        cv2.imread(path, 0) (a colour file through OpenCV's own grey conversion,
                        jrestore.data.image_io.read_image_cv2_grayscale), 3 -> cv2.imread(path, -1) with
                        GRAY2RGB for grey files. Reference and model input are read alike.
A file is grey by its storage mode ('L'), not by its values: an RGB file whose channels are equal is colour to
every one of these scripts. Where the script reads a colour file for a one-channel model and has no reader of
its own, the model sees the protocol's Y (y_channel, y_round).

Per protocol, (a) grey file + one-channel model, (b) colour file + one-channel model, (c) grey file +
three-channel model, with the source lines that decide it. SSIM goes through the same prepare_pair as PSNR, so
it follows the same channel policy (ssim_index / compare_ssim / calculate_ssim on the same Y or grey plane).
  selfexsr    compute_difference.m: `if size(im,3)>1, im = rgb2ycbcr(im); im = im(:,:,1); end` and the same
              for imgt; images come from MATLAB imread ('as_stored'). A palette file is expanded to RGB here
              (MATLAB's imread would return its indices).
              (a) LR and HR grey values as stored, shave, PSNR on uint8: no 16..235 Y.
              (b) MATLAB rgb2ycbcr Y of LR (model input) and HR (reference), uint8.
              (c) the LR replicated to R = G = B as the model's input; the output has 3 channels, so the
              script takes its rgb2ycbcr Y and compares it with the grey HR (what compute_difference.m does).
  ista_net    TEST_CS_ISTA_Net_plus.py: `Img = cv2.imread(imgName, 1)`, `Img_yuv = cv2.cvtColor(Img,
              cv2.COLOR_BGR2YCrCb)`, `Iorg_y = Img_yuv[:,:,0]` ('rgb').
              (a) cv2.imread(path, 1) replicates the grey; OpenCV's Y of R = G = B = v is v exactly (the
              fixed-point weights sum to 2^14), so Y is the grey value. (b) OpenCV's uint8 Y.
              (c) not applicable (ISTA-Net measures one channel).
  kair_dncnn  utils_image.imread_uint: `if n_channels == 1: img = cv2.imread(path, 0)`, `elif n_channels == 3:
              img = cv2.imread(path, cv2.IMREAD_UNCHANGED)`, `if img.ndim == 2: cv2.cvtColor(img,
              cv2.COLOR_GRAY2RGB)`; main_test_dncnn.py reads img_L and img_H with the model's n_channels.
              (a) cv2.imread(path, 0): the grey values. (b) cv2.imread(path, 0) of the colour file (libpng's
              truncating weights for PNG: not PIL's convert('L')). (c) imread_uint(n_channels=3): GRAY2RGB for
              input and reference, all three channels scored (equal to scoring the grey once).
  yjn870      test.py: `image = pil_image.open(args.image_file).convert('RGB')`; utils.preprocess:
              `convert_rgb_to_ycbcr(img)[..., 0] / 255` ('rgb').
              (a) PIL .convert('RGB') then convert_rgb_to_y: Y = 16 + 218.859 v / 256, so the studio range
              IS applied to grey files here. (b) the same Y of the colour file. (c) R = G = B in, Y of both
              images scored (the repository has no colour model; jrestore scores colour models on Y).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

from jrestore._validate import check_choice, check_positive

__all__ = ["Protocol", "PROTOCOLS", "get_protocol", "resolve_knobs", "Y_CHANNELS", "QUANTIZE", "VARIANTS",
           "READ_FILES", "check_pair_shapes"]

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
