"""VGG16 / VGG19 feature extractors for perceptual losses (convolutional part only).

Paper: K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015 (configurations D = VGG16 and E = VGG19, without batch normalisation).
Numerics and parameter names match torchvision `torchvision/models/vgg.py` (`vgg16().features`,
`vgg19().features`): `features` is indexed exactly like torchvision's nn.Sequential (conv at i, its ReLU
at i + 1, the max-pools at torchvision's indices), so a torchvision state dict converts by rule; use
`jrestore.convert.load_torchvision_features`, which ignores the `classifier.*` keys (the head is not built).

Taps are named as in BasicSR `vgg_arch.NAMES` (conv1_1, relu1_1, ..., pool1, ..., conv5_4, relu5_4, pool5)
or given as the torchvision index (docs/conventions.md §12). `VGG_LAYERS[arch][i]` is the name of
`features[i]`: the one name <-> index table (torch_ref imports it). `model(x, taps=...)` returns
{layer name: features} and runs the network only as deep as the deepest tap.

Default taps (when __call__ gets none): ('relu1_2', 'relu2_2', 'relu3_4', 'relu4_4', 'conv5_4') for
vgg19 and ('relu1_2', 'relu2_2', 'relu3_3', 'relu4_3', 'conv5_3') for vgg16: the last activation of each of
the first four blocks plus the last conv of block 5 *before* its ReLU, the layer of ESRGAN / BasicSR's
perceptual loss (`'conv5_4': 1.  # before relu`, the WASA sketch's `features[:35]`). Both conv and relu taps at
every depth, so the registered parity case covers the pre-activation trap. Override per model with
`default_taps=` or per call with `taps=`.

Parity notes:
- Input: RGB [B, H, W, 3] in [0, 1]. `normalize=True` applies ImageNet's (x - mean) / std inside the model
  (BasicSR `use_input_norm`, flaxmodels `normalize`); mean / std are non-persistent constants, not in
  state dicts. Data in [-1, 1] must be mapped by (x + 1) / 2 first. Caffe-style BGR [0, 255] VGGs differ.
- Convolutions 3x3, padding 1, with bias; ReLU; MaxPool2d(2, 2) in floor mode (odd sizes drop the last
  row / column, as torchvision). A tap needs H, W >= 2**(pools before it); smaller inputs raise ValueError.
- torchvision's ReLUs are in place: a conv tap stored before its ReLU would be overwritten. torch_ref builds
  them with inplace=False (JAX arrays are immutable), so conv5_4 keeps its negative values.
- `num_feat` (default 64) is the first block's width; the blocks are (1, 2, 4, 8, 8) x num_feat, so the
  default is torchvision's 64, 128, 256, 512, 512 and smaller values give cheap parity cases.
- Init: PyTorch's default conv init (torchvision uses kaiming_normal_ fan_out): the extractor is meant to
  be loaded from ImageNet weights, so its own init is immaterial.

Seed variants: `vgg16` tap 'relu3_3' on raw [0, 1] images (`normalize=False`) is seed 000's
`vgg16().features[:16]`; `vgg16` 'relu4_3' is seed 002's perceptual tap; `vgg19` 'relu5_4' is seed 003's SRGAN
content loss and `vgg19` 'conv5_4' / `features[:35]` on raw images seed 001's WASA loss. `normalize=True`
(ImageNet statistics, BasicSR's default) is not what any seed writes.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jrestore._validate import check_choice, check_image, check_int
from jrestore.layers.activation import ReLU
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d
from jrestore.layers.params import NonPersistent
from jrestore.layers.pool import MaxPool2d
from jrestore.models._registry import register
from jrestore.core.models.vgg import (  # noqa: F401  framework-neutral part, shared with torch_ref
    DEFAULT_TAPS, IMAGENET_MEAN, IMAGENET_STD, VGG_BLOCKS, VGG_LAYERS, check_vgg_args, check_vgg_input,
    resolve_taps, tap_index, torchvision_features, vgg_layer_names, vgg_widths)

__all__ = ["VGG", "VGG16", "VGG19", "VGG_BLOCKS", "VGG_LAYERS", "DEFAULT_TAPS", "IMAGENET_MEAN", "IMAGENET_STD",
           "vgg_layer_names", "tap_index", "resolve_taps", "check_vgg_input", "vgg_widths", "check_vgg_args",
           "torchvision_features"]


# ---- modules ----

class VGG(nnx.Module):
    """VGG feature extractor: x [B, H, W, 3] RGB in [0, 1] -> {tap name: [B, h, w, c] features}.

    Args: arch ('vgg16' | 'vgg19'), normalize (ImageNet mean / std inside), num_feat (first block width, 64),
    default_taps (the taps __call__ returns when given none; DEFAULT_TAPS[arch] if None).
    """

    def __init__(self, arch: str = "vgg19", normalize: bool = True, num_feat: int = 64, default_taps=None, *,
                 rngs: nnx.Rngs):
        self.default_taps = check_vgg_args(arch, normalize, num_feat, default_taps)
        self.arch, self.normalize = arch, normalize
        layers, cin = [], 3
        for convs, width in zip(VGG_BLOCKS[arch], vgg_widths(num_feat)):
            for _ in range(convs):
                layers += [Conv2d(cin, width, 3, 1, 1, rngs=rngs), ReLU(inplace=False)]
                cin = width
            layers.append(MaxPool2d(2, 2))
        self.features = Sequential(*layers)
        self.mean = NonPersistent(jnp.asarray(IMAGENET_MEAN))
        self.std = NonPersistent(jnp.asarray(IMAGENET_STD))

    def __call__(self, x: jax.Array, taps: Iterable | str | int | None = None) -> dict[str, jax.Array]:
        names, wanted = resolve_taps(self.arch, self.default_taps if taps is None else taps)
        last = max(wanted)
        check_vgg_input(x, self.arch, last)
        if self.normalize:
            x = (x - self.mean[...]) / self.std[...]
        found = {}
        for i in range(last + 1):  # only as deep as the deepest tap
            x = self.features[i](x)
            if i in wanted:
                found[wanted[i]] = x
        return {name: found[name] for name in names}


@register("vgg16")
class VGG16(VGG):
    """torchvision vgg16().features (31 entries, 13 convs); see VGG."""

    def __init__(self, normalize: bool = True, num_feat: int = 64, default_taps=None, *, rngs: nnx.Rngs):
        super().__init__("vgg16", normalize, num_feat, default_taps, rngs=rngs)


@register("vgg19")
class VGG19(VGG):
    """torchvision vgg19().features (37 entries, 16 convs); see VGG."""

    def __init__(self, normalize: bool = True, num_feat: int = 64, default_taps=None, *, rngs: nnx.Rngs):
        super().__init__("vgg19", normalize, num_feat, default_taps, rngs=rngs)
