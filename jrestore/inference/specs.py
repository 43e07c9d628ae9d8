"""What each registered model restores, and what its inputs must look like: one table, used by
`build_task` (eval, restore, export) so no command guesses a model's contract on its own.

    kind          'cs' (image -> measurements -> reconstruction), 'denoise', 'sr', or None (not a restorer:
                  discriminators and feature extractors)
    channels_arg  constructor argument holding the image channels (None: fixed 1 channel)
    scale_arg     constructor argument holding the SR factor (None: scale 1, or fixed by the weights)
    halo(kw)      input pixels of context one output pixel depends on, per side; None for global models
                  (self-attention, deep U-Nets), which tile only approximately
    align(kw)     input sizes (and tile offsets) must be multiples of this; inputs are edge-padded to it
    upsampled     the network takes the bicubic-upsampled image (SRCNN) instead of the LR image
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["ModelSpec", "SPECS", "get_spec", "MIN_SIZE"]

# Below this, a 3x3-conv network sees mostly its own zero padding: refused with a clear message.
MIN_SIZE = 8


@dataclass(frozen=True)
class ModelSpec:
    kind: Optional[str]
    channels_arg: Optional[str] = None
    scale_arg: Optional[str] = None
    halo: Callable[[dict], Optional[int]] = lambda kw: 0
    align: Callable[[dict], int] = lambda kw: 1
    upsampled: bool = False
    needs_weights: bool = True


def _dncnn_halo(kw: dict) -> int:
    nb = kw.get("nb", 17)
    return 2 * (nb - 2) + 2 if kw.get("variant", "plain") == "residual" else nb


SPECS: dict[str, ModelSpec] = {
    # compressed sensing: every 33x33 block is reconstructed on its own (tiling is by block)
    "ista_net": ModelSpec("cs"),
    "ista_net_plus": ModelSpec("cs"),
    "ista": ModelSpec("cs", needs_weights=False),
    "admm": ModelSpec("cs", needs_weights=False),
    # denoising
    "dncnn": ModelSpec("denoise", "in_nc", halo=_dncnn_halo),
    "ffdnet": ModelSpec("denoise", "in_nc", halo=lambda kw: 2 * kw.get("nb", 15) + 2, align=lambda kw: 2),
    "attention_unet": ModelSpec("denoise", "img_ch", halo=lambda kw: None,
                                align=lambda kw: 2 ** kw.get("depth", 4)),
    # full-res 3x3 (1) and pooled 3x3 (2 full-res pixels, plus the 2x2 window)
    "multiscale_enhancer": ModelSpec("denoise", "in_channels", halo=lambda kw: 4, align=lambda kw: 2),
    # super-resolution; halos in LR pixels, rounded up generously over the deconv / pixel-shuffle tails
    "srcnn": ModelSpec("sr", "num_channels", halo=lambda kw: 12, upsampled=True),
    "fsrcnn": ModelSpec("sr", "num_channels", "scale_factor", halo=lambda kw: kw.get("m", 4) + 6),
    "espcn": ModelSpec("sr", "num_channels", "scale_factor", halo=lambda kw: 5),
    "srresnet": ModelSpec("sr", "num_channels", "scale", halo=lambda kw: 2 * kw.get("num_block", 16) + 12),
    "msrresnet": ModelSpec("sr", "num_in_ch", "upscale", halo=lambda kw: 2 * kw.get("num_block", 16) + 8),
    "wasa": ModelSpec("sr", "num_channels", "scale", halo=lambda kw: None, align=lambda kw: 2),
    # not restorers
    "srgan_discriminator": ModelSpec(None),
    "vgg_style_discriminator": ModelSpec(None),
    "vgg16": ModelSpec(None),
    "vgg19": ModelSpec(None),
}


def get_spec(name: str) -> ModelSpec:
    """The spec of a restoring model; ValueError naming the restorers for anything else."""
    restorers = sorted(n for n, s in SPECS.items() if s.kind is not None)
    spec = SPECS.get(name)
    if spec is None or spec.kind is None:
        why = "is not an image-restoration model" if spec is not None else "is not a known model"
        raise ValueError(f"model: {name!r} {why}; expected one of {restorers} or 'bicubic'")
    return spec
