"""The framework-neutral part of jrestore.models.wasa: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.wasa and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

import numpy as np

from jrestore._validate import check_choice, check_image, check_int
from jrestore.core.layers.attention import check_chunk_size
from jrestore.core.spec import BenchEntry, ModelSpec, ParityCase, WeightShapes

__all__ = ["SPECS", "WASA_SCALES", "check_wasa_args", "check_wasa_input"]


WASA_SCALES = (2, 4)


def check_wasa_args(scale: int, num_channels: int, num_feat: int, num_block: int, reduction: int,
                    attention_chunk="auto") -> int:
    """Validate WASA's arguments; returns the number of x2 pixel-shuffle stages."""
    check_chunk_size(attention_chunk, "attention_chunk")
    check_choice(scale, "scale", WASA_SCALES)
    check_int(num_channels, "num_channels")
    check_int(num_feat, "num_feat", minimum=8)  # self-attention projects to num_feat // 8 channels
    check_int(num_block, "num_block", minimum=0)
    check_int(reduction, "reduction")
    if 4 * num_feat < reduction:
        raise ValueError(f"reduction: expected at most 4 * num_feat = {4 * num_feat} (channel attention has "
                         f"4 * num_feat // reduction hidden units), got {reduction}")
    return 1 if scale == 2 else 2


def check_wasa_input(x, num_channels: int, layout: str = "NHWC") -> None:
    check_image(x, "x", layout=layout, channels=num_channels)
    h, w = (x.shape[1], x.shape[2]) if layout == "NHWC" else (x.shape[2], x.shape[3])
    if h % 2 or w % 2:
        raise ValueError(f"x: expected even height and width (the Haar DWT of each RWAB halves them), got {h}x{w}")


# --- spec (jrestore.core.spec) --------------------------------------------------------------------------------
def _weights_rule(s: WeightShapes) -> dict:
    nf, c = s("head.weight")[:2]
    blocks = s.indices(r"body\.(\d+)\..*")
    ups = [i for i in s.indices(r"upsample\.(\d+)\.weight") if s(f"upsample.{i}.weight")[0] == 4 * nf]
    out = {"num_channels": c, "num_feat": nf, "num_block": len(blocks), "scale": 2 ** len(ups)}
    if blocks:  # channel attention squeezes 4 num_feat channels to 4 num_feat // reduction
        hidden = s(f"body.{blocks[0]}.ca.fc.0.weight")[0]
        if (4 * nf) % hidden == 0:
            out["reduction"] = 4 * nf // hidden
    return out


def _parity_inputs(rng, full):
    """Even sizes (the DWT halves them), non-square, 3 channels so the bicubic skip and the pixel-shuffle order
    both show. The self-attention's gamma starts at 0, which would hide that branch: the parity harness
    perturbs every parameter, gamma included."""
    return (rng.uniform(0.0, 1.0, (1, 12, 8, 3) if full else (2, 10, 6, 3)).astype(np.float32),)


SPECS = (ModelSpec(
    "wasa", "sr", channels_arg="num_channels", scale_arg="scale", halo=lambda kw: None, align=lambda kw: 2,
    weights_rule=_weights_rule,
    parity=ParityCase(small={"scale": 4, "num_feat": 8, "num_block": 2, "reduction": 4}, inputs=_parity_inputs,
                      train_mode=False),
    bench=(BenchEntry("wasa", {"scale": 2, "num_channels": 3, "num_feat": 64, "num_block": 16}, batch=8,
                      input_hw=(48, 48), channels=3, scale=2, hw_multiple=2),),
    recipe="wasa_x2"),)
