"""The framework-neutral part of jrestore.models.attention_unet: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.attention_unet and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_choice, check_int

__all__ = ["check_attention_unet_args", "unet_widths"]


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
