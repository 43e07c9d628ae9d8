"""The framework-neutral part of jrestore.models.vgg: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.vgg and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from jrestore._validate import check_choice, check_image, check_int
from jrestore.core.spec import ModelSpec, ParityCase, WeightShapes

__all__ = ["SPECS", "DEFAULT_TAPS", "IMAGENET_MEAN", "IMAGENET_STD", "VGG_BLOCKS", "VGG_LAYERS", "check_vgg_args",
           "check_vgg_input", "resolve_taps", "tap_index", "torchvision_features", "vgg_layer_names",
           "vgg_widths"]


# convs per block (torchvision cfgs 'D' and 'E')
VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)


IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def vgg_layer_names(arch: str) -> tuple[str, ...]:
    """Name of each entry of torchvision's `features` Sequential, by index: conv{b}_{l}, relu{b}_{l}, pool{b}."""
    check_choice(arch, "arch", VGG_BLOCKS)
    names = []
    for b, convs in enumerate(VGG_BLOCKS[arch], start=1):
        for i in range(1, convs + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return tuple(names)


VGG_LAYERS = {arch: vgg_layer_names(arch) for arch in VGG_BLOCKS}  # VGG_LAYERS['vgg19'][34] == 'conv5_4'


DEFAULT_TAPS = {"vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "conv5_3"),
                "vgg19": ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "conv5_4")}


def tap_index(arch: str, tap) -> int:
    """torchvision `features` index of `tap` (a layer name such as 'relu5_4', or the index itself)."""
    names = VGG_LAYERS[arch]
    if isinstance(tap, (int, np.integer)) and not isinstance(tap, bool):
        if not 0 <= tap < len(names):
            raise ValueError(f"taps: index {tap} out of range for {arch} (0 .. {len(names) - 1})")
        return int(tap)
    if isinstance(tap, str) and tap in names:
        return names.index(tap)
    raise ValueError(f"taps: expected a layer name of {arch} ({names[0]}, ..., {names[-1]}) or an index "
                     f"0 .. {len(names) - 1}, got {tap!r}")


def resolve_taps(arch: str, taps) -> tuple[tuple[str, ...], dict[int, str]]:
    """Requested taps -> (their layer names in request order, {index: name}); a str or int is one tap."""
    if isinstance(taps, (str, int, np.integer)):
        taps = (taps,)
    taps = tuple(taps)
    if not taps:
        raise ValueError(f"taps: expected at least one layer of {arch}, got an empty sequence")
    names = []
    for tap in taps:
        name = VGG_LAYERS[arch][tap_index(arch, tap)]
        if name not in names:  # 35 and 'relu5_4' are the same tap
            names.append(name)
    return tuple(names), {VGG_LAYERS[arch].index(n): n for n in names}


def check_vgg_input(x, arch: str, last: int, layout: str = "NHWC") -> None:
    """x: rank-4 float RGB, large enough for the pools up to `features[last]`."""
    pools = sum(1 for name in VGG_LAYERS[arch][:last + 1] if name.startswith("pool"))
    check_image(x, "x", layout=layout, channels=3, min_size=2 ** pools)


def vgg_widths(num_feat: int) -> tuple[int, ...]:
    return tuple(num_feat * m for m in (1, 2, 4, 8, 8))


def check_vgg_args(arch: str, normalize: bool, num_feat: int, default_taps) -> tuple[str, ...]:
    """Validate the constructor arguments; returns the default taps as layer names."""
    check_choice(normalize, "normalize", (True, False))
    check_int(num_feat, "num_feat")
    return resolve_taps(arch, DEFAULT_TAPS[arch] if default_taps is None else default_taps)[0]


def torchvision_features(state_dict: Mapping, arch: str) -> dict:
    """The `features.*` entries of a torchvision VGG state dict (classifier.* dropped).

    Also takes a bare `vgg.features.state_dict()` (keys '0.weight', ...), which gains the 'features.'
    prefix, and strips nn.DataParallel's 'module.'. Any other key is kept, so a strict load reports it.
    """
    out = {}
    for key, value in state_dict.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if key.startswith("classifier."):
            continue
        if key.split(".", 1)[0].isdigit():
            key = "features." + key
        out[key] = value
    n = len(VGG_LAYERS[arch])
    stray = [k for k in out if k.startswith("features.") and k.split(".")[1].isdigit() and int(k.split(".")[1]) >= n]
    if stray:
        raise ValueError(f"state_dict: {stray[0]!r} is outside {arch}'s features (0 .. {n - 1}); "
                         f"a vgg_bn or other-depth checkpoint?")
    return out


# --- specs (jrestore.core.spec) -------------------------------------------------------------------------------
def _weights_rule(s: WeightShapes) -> dict:
    return {"num_feat": s("features.0.weight")[0]}


def _parity_inputs(rng, full):
    """Odd sizes, so the floor-mode pools drop rows and columns (the cases tap a conv before its ReLU,
    conv5_4 / conv5_3, next to relu taps)."""
    return (rng.uniform(0.0, 1.0, (1, 35, 33, 3) if full else (2, 35, 33, 3)).astype(np.float32),)


# torchvision's checkpoints: its classifier is not built here, and a bare `features` state dict lacks the prefix
TORCHVISION_ALIASES = ((r"classifier\..*", None), (r"(\d+\..*)", r"features.\1"))

SPECS = tuple(ModelSpec(arch, None, image_channels=3, weights_rule=_weights_rule, key_aliases=TORCHVISION_ALIASES,
                        example_hw=lambda kw: (32, 32),
                        parity=ParityCase(small={"num_feat": 4}, inputs=_parity_inputs, train_mode=False))
              for arch in ("vgg16", "vgg19"))
