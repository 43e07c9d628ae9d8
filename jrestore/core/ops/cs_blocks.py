"""The framework-neutral part of jrestore.ops.cs_blocks: its argument checks, constants and NumPy helpers.

Shared by jrestore.ops.cs_blocks and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from jrestore._validate import check_float, check_image, check_positive

__all__ = ["BlockMeta", "block_meta"]


class BlockMeta(NamedTuple):
    """What `blocks_to_image` needs to undo `image_to_blocks` (static Python ints)."""

    height: int
    width: int
    padded_height: int
    padded_width: int
    block: int
    batch: Optional[int]  # None for a single [H, W] image

    @property
    def num_blocks(self) -> int:
        """Rows per image: (padded_height / block) * (padded_width / block)."""
        return (self.padded_height // self.block) * (self.padded_width // self.block)


def block_meta(height: int, width: int, block: int, batch: Optional[int] = None) -> BlockMeta:
    """Padded sizes by the always-pad rule n + block - n % block (framework-free, shared with torch_ref)."""
    if not isinstance(block, int) or isinstance(block, bool):
        raise ValueError(f"block: expected a positive int, got {block!r}")
    check_positive(block, "block")
    return BlockMeta(height, width, height + block - height % block, width + block - width % block, block, batch)


def _grey(img, layout: str):
    """-> ([B, H, W] view of img, batch or None); img is [H, W] or a rank-4 image with one channel."""
    if getattr(img, "ndim", None) == 2:
        return img[None], None
    form = "[B, H, W, 1]" if layout == "NHWC" else "[B, 1, H, W]"
    if getattr(img, "ndim", None) != 4:
        shape = tuple(getattr(img, "shape", ()))
        raise ValueError(f"img: expected a grey image [H, W] or a batch {form}, got shape {shape}")
    check_image(img, "img", layout=layout, channels=1, floating=False)
    return (img[..., 0] if layout == "NHWC" else img[:, 0]), img.shape[0]


def _check_matrix(a, name: str, cols: int, cols_of: str) -> None:
    check_float(a, name)
    if a.ndim != 2 or a.shape[1] != cols:
        raise ValueError(f"{name}: expected a matrix with {cols} columns ({cols_of}), got shape {tuple(a.shape)}")
