"""The framework-neutral part of jrestore.models.espcn: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.espcn and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import math

from jrestore._validate import check_choice, check_int
from jrestore.core.spec import BenchEntry, ModelSpec, ParityCase, WeightShapes, sr_images

__all__ = ["SPECS", "ESPCN_ACTIVATIONS", "check_espcn_args"]

# 'tanh': the paper's and yjn870's; 'relu': the design document's (seed 002: F.relu after conv1 and conv2)
ESPCN_ACTIVATIONS = ("tanh", "relu")


def check_espcn_args(scale_factor: int, num_channels: int, activation: str = "tanh") -> None:
    check_int(scale_factor, "scale_factor")
    check_int(num_channels, "num_channels")
    check_choice(activation, "activation", ESPCN_ACTIVATIONS)


# --- spec (jrestore.core.spec) --------------------------------------------------------------------------------
def _weights_rule(s: WeightShapes) -> dict:
    c = s("first_part.0.weight")[1]
    out_ch = s("last_part.0.weight")[0]
    r = math.isqrt(out_ch // c) if out_ch % c == 0 else 0
    out = {"num_channels": c}
    if r >= 1 and r * r * c == out_ch:  # the sub-pixel conv gives C * s**2 channels
        out["scale_factor"] = r
    return out


SPECS = (ModelSpec(
    "espcn", "sr", channels_arg="num_channels", scale_arg="scale_factor", halo=lambda kw: 5, weights_rule=_weights_rule,
    # three channels exercise the pixel-shuffle channel order
    parity=ParityCase(small={"scale_factor": 2, "num_channels": 3}, train_mode=False,
                      inputs=lambda rng, full: (sr_images(rng, (1, 12, 10, 1) if full else (2, 9, 7, 3)),)),
    bench=(BenchEntry("espcn", {"scale_factor": 3, "num_channels": 1}, batch=16, input_hw=(32, 32), scale=3,
                      recipe="espcn_x3"),),
    recipe="espcn_x3"),)
