"""The framework-neutral part of jrestore.models.attention_unet: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.attention_unet and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_choice, check_int
from jrestore.core.models.dncnn import noisy_images
from jrestore.core.spec import ModelSpec, ParityCase, WeightShapes

__all__ = ["SPECS", "check_attention_unet_args", "unet_widths"]


def check_attention_unet_args(img_ch: int, output_ch: int, num_feat: int, depth: int, residual: bool) -> None:
    check_int(img_ch, "img_ch")
    check_int(output_ch, "output_ch")
    check_int(num_feat, "num_feat", minimum=2)  # the top attention gate has num_feat // 2 channels
    check_int(depth, "depth")
    check_choice(residual, "residual", (False, True))
    if residual and output_ch != img_ch:
        raise ValueError(f"output_ch: residual=True returns x - net(x), so expected output_ch == img_ch ({img_ch}), "
                         f"got {output_ch}")


def unet_widths(num_feat: int, depth: int) -> list[int]:
    """Channels of Conv1 .. Conv{depth+1}: num_feat * 2**i (AttU_Net: 64, 128, 256, 512, 1024)."""
    return [num_feat * 2 ** i for i in range(depth + 1)]


# --- spec (jrestore.core.spec) --------------------------------------------------------------------------------
def _weights_rule(s: WeightShapes) -> dict:
    nf, c = s("Conv1.conv.0.weight")[:2]
    return {"img_ch": c, "output_ch": s("Conv_1x1.weight")[0], "num_feat": nf,
            "depth": len(s.indices(r"Conv(\d+)\..*")) - 1}


def _parity_inputs(rng, full):  # multiples of 2**depth: a 6x4 bottleneck at depth 2
    return (noisy_images(rng, (1, 48, 32, 1) if full else (2, 24, 16, 1)),)


SPECS = (ModelSpec(
    "attention_unet", "denoise", channels_arg="img_ch", halo=lambda kw: None, align=lambda kw: 2 ** kw.get("depth", 4),
    weights_rule=_weights_rule, example_hw=lambda kw: (max(16, 2 ** kw.get("depth", 4)),) * 2,
    parity=ParityCase(small={"num_feat": 8, "depth": 2}, inputs=_parity_inputs)),)
