"""The framework-neutral part of jrestore.models.ffdnet: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.ffdnet and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import numpy as np

from jrestore._validate import check_float, check_int
from jrestore.core.models.dncnn import batchnorm_act_mode, check_act_mode, noisy_images
from jrestore.core.spec import ExtraInput, ModelSpec, ParityCase, WeightShapes

__all__ = ["SPECS", "SF", "check_ffdnet_args", "check_sigma", "even_padding"]


SF = 2  # KAIR's fixed down-sampling factor


def check_ffdnet_args(in_nc: int, out_nc: int, nc: int, nb: int, act_mode: str) -> None:
    for value, name in ((in_nc, "in_nc"), (out_nc, "out_nc"), (nc, "nc")):
        check_int(value, name)
    check_int(nb, "nb", minimum=2)
    check_act_mode(act_mode)


def check_sigma(sigma, batch: int) -> bool:
    """Validate FFDNet's noise level; returns True for a scalar (to broadcast), False for a [B, 1, 1, 1] array."""
    if isinstance(sigma, bool):
        raise ValueError(f"sigma: expected a float or a float array of shape ({batch}, 1, 1, 1), got {sigma!r}")
    if isinstance(sigma, (int, float)):
        return True
    shape = tuple(getattr(sigma, "shape", ()))
    if not hasattr(sigma, "shape") or shape not in ((), (batch, 1, 1, 1)):
        raise ValueError(f"sigma: expected a scalar or shape ({batch}, 1, 1, 1) (one noise level per image), "
                         f"got {shape if hasattr(sigma, 'shape') else type(sigma).__name__}")
    check_float(sigma, "sigma")
    return shape == ()


def even_padding(h: int, w: int) -> tuple[int, int]:
    """(bottom, right) replicate padding that makes h and w even (KAIR: ceil(h / 2) * 2 - h)."""
    return h % SF, w % SF


# --- spec (jrestore.core.spec) --------------------------------------------------------------------------------
def _weights_rule(s: WeightShapes) -> dict:
    nc, cin = s("model.0.weight")[:2]
    convs = [i for i in s.indices(r"model\.(\d+)\.weight") if len(s(f"model.{i}.weight")) == 4]
    cout = s(f"model.{convs[-1]}.weight")[0]
    if (cin - 1) % 4 or cout % 4:  # pixel-unshuffle by 2 plus the noise map: 4 in_nc + 1 in, 4 out_nc out
        return {}
    return {"in_nc": (cin - 1) // 4, "out_nc": cout // 4, "nc": nc, "nb": len(convs),
            "act_mode": batchnorm_act_mode(s, "model.")}


def _parity_inputs(rng, full):
    """Odd, non-square images (FFDNet pads them to even sizes) and one noise level per image, [B, 1, 1, 1]."""
    batch = 1 if full else 2
    sigma = rng.uniform(5 / 255, 50 / 255, (batch, 1, 1, 1)).astype(np.float32)
    return noisy_images(rng, (batch, 41, 39, 1) if full else (batch, 17, 15, 1)), sigma


NOISE_LEVEL = ExtraInput("sigma", scale=1 / 255, shape=(1, 1, 1), example=25.0,
                         help="noise level on the 0-255 scale (FFDNet takes it as an input)")

SPECS = (ModelSpec(
    "ffdnet", "denoise", channels_arg="in_nc", extra_inputs=(NOISE_LEVEL,),
    halo=lambda kw: 2 * kw.get("nb", 15) + 2, align=lambda kw: SF, weights_rule=_weights_rule,
    # KAIR's default act_mode 'R' has no BN; the 'BR' layout runs in parity_tests/test_denoise_models.py
    parity=ParityCase(small={"nc": 8, "nb": 4}, inputs=_parity_inputs, train_mode=False)),)
