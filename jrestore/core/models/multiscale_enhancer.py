"""The framework-neutral part of jrestore.models.multiscale_enhancer: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.multiscale_enhancer and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_int
from jrestore.core.models.dncnn import noisy_images
from jrestore.core.spec import ModelSpec, ParityCase, WeightShapes

__all__ = ["SPECS", "check_enhancer_args"]


def check_enhancer_args(in_channels: int, num_feat: int) -> None:
    check_int(in_channels, "in_channels")
    check_int(num_feat, "num_feat")


# --- spec (jrestore.core.spec) --------------------------------------------------------------------------------
def _weights_rule(s: WeightShapes) -> dict:
    nf, c = s("scale1.0.weight")[:2]
    return {"in_channels": c, "num_feat": nf}


def _parity_inputs(rng, full):  # odd sizes: the ceil-mode pooling and the crop
    return (noisy_images(rng, (1, 41, 39, 1) if full else (2, 17, 15, 1)),)


SPECS = (ModelSpec(
    # full-res 3x3 (1) and pooled 3x3 (2 full-res pixels, plus the 2x2 window)
    "multiscale_enhancer", "denoise", channels_arg="in_channels", halo=lambda kw: 4, align=lambda kw: 2,
    weights_rule=_weights_rule,
    parity=ParityCase(small={"num_feat": 8}, inputs=_parity_inputs, train_mode=False)),)
