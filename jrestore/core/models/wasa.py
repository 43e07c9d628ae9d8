"""The framework-neutral part of jrestore.models.wasa: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.wasa and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_choice, check_image, check_int
from jrestore.core.layers.attention import check_chunk_size

__all__ = ["WASA_SCALES", "check_wasa_args", "check_wasa_input"]


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
