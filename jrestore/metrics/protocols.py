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
from jrestore.core.metrics.protocols import (  # noqa: F401  framework-neutral part, shared with torch_ref
    DEFAULTS, PROTOCOLS, Protocol, QUANTIZE, READ_FILES, VARIANTS, Y_CHANNELS, check_pair_shapes, get_protocol,
    resolve_knobs)

__all__ = ["Protocol", "PROTOCOLS", "get_protocol", "resolve_knobs", "Y_CHANNELS", "QUANTIZE", "VARIANTS",
           "READ_FILES", "check_pair_shapes"]


