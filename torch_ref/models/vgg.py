"""VGG16 / VGG19 feature extractors in PyTorch (NCHW): the twin of jrestore.models.vgg, without torchvision.

Paper: K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015. `features` is a plain nn.Sequential laid out exactly like torchvision's `vgg16().features` /
`vgg19().features`, so torchvision state dicts load (`load_torchvision_features` drops classifier.*).
The name <-> index table, default taps, ImageNet constants and checks come from jrestore.models.vgg.
Parity notes: see jrestore.models.vgg. The ReLUs are built with inplace=False, so a pre-activation tap
(conv5_4) is not overwritten by the ReLU that follows it (torchvision's in-place ReLUs would do that).
"""
from __future__ import annotations

from typing import Iterable, Mapping

import torch
from torch import nn

from jrestore.core.models.vgg import (IMAGENET_MEAN, IMAGENET_STD, VGG_BLOCKS, check_vgg_args, check_vgg_input,
                                 resolve_taps, torchvision_features, vgg_widths)
from torch_ref.models._registry import register

__all__ = ["VGG", "VGG16", "VGG19", "load_torchvision_features"]


class VGG(nn.Module):
    """VGG feature extractor: x [B, 3, H, W] RGB in [0, 1] -> {tap name: [B, c, h, w] features}."""

    def __init__(self, arch: str = "vgg19", normalize: bool = True, num_feat: int = 64, default_taps=None):
        super().__init__()
        self.default_taps = check_vgg_args(arch, normalize, num_feat, default_taps)
        self.arch, self.normalize = arch, normalize
        layers, cin = [], 3
        for convs, width in zip(VGG_BLOCKS[arch], vgg_widths(num_feat)):
            for _ in range(convs):
                layers += [nn.Conv2d(cin, width, 3, 1, 1), nn.ReLU(inplace=False)]
                cin = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.from_numpy(IMAGENET_MEAN.copy()).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.from_numpy(IMAGENET_STD.copy()).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, taps: Iterable | str | int | None = None) -> dict[str, torch.Tensor]:
        names, wanted = resolve_taps(self.arch, self.default_taps if taps is None else taps)
        last = max(wanted)
        check_vgg_input(x, self.arch, last, layout="NCHW")
        if self.normalize:
            x = (x - self.mean) / self.std
        found = {}
        for i in range(last + 1):  # only as deep as the deepest tap
            x = self.features[i](x)
            if i in wanted:
                found[wanted[i]] = x
        return {name: found[name] for name in names}


@register("vgg16")
class VGG16(VGG):
    """torchvision vgg16().features (31 entries); see VGG."""

    def __init__(self, normalize: bool = True, num_feat: int = 64, default_taps=None):
        super().__init__("vgg16", normalize, num_feat, default_taps)


@register("vgg19")
class VGG19(VGG):
    """torchvision vgg19().features (37 entries); see VGG."""

    def __init__(self, normalize: bool = True, num_feat: int = 64, default_taps=None):
        super().__init__("vgg19", normalize, num_feat, default_taps)


def load_torchvision_features(model: VGG, state_dict: Mapping) -> VGG:
    """Load a torchvision VGG16/19 state dict into `model` (classifier.* ignored, features.* strict)."""
    model.load_state_dict(torchvision_features(state_dict, model.arch), strict=True)
    return model
