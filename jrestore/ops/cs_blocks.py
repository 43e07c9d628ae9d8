"""Block compressed sensing as in the ISTA-Net authors' test script (TEST_CS_ISTA_Net_plus.py).

Protocol (../shared/data/README.md, cs/; style_and_parity.md B13):
- zero-pad right and bottom by `block - n % block`. This ALWAYS pads: a side that is already a multiple
  of the block grows by a whole block (a 33x33 image becomes 66x66), as the official `imread_CS_py` does;
- cut block x block tiles in raster order (row of blocks by row of blocks), flatten each row-major into
  one row of `block**2` values (ISTA-Net later views a row as [1, 33, 33], the same order);
- y = x Phi^T (`measure`), x0 = y Qinit^T (`initial_estimate`), at HIGHEST matmul precision (B11).

Images are a single grey image [H, W] (the protocol) or a batch [B, H, W, 1]; batches give rows image by
image, each image's blocks in raster order. Block ops only rearrange, so any dtype is accepted
(uint8 included). Padded sizes are static Python ints, computed from static shapes: under `jax.jit`, take
only the rows out of the traced function (`image_to_blocks(img)[0]`) and build the meta outside with
`block_meta` (a jitted function would return its ints as arrays); pass it to `blocks_to_image` as static.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax.numpy as jnp
from jax import lax

from jrestore._validate import check_float, check_image, check_positive

__all__ = ["BlockMeta", "block_meta", "pad_to_blocks", "image_to_blocks", "blocks_to_image", "measure",
           "initial_estimate"]


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


def pad_to_blocks(img: jnp.ndarray, block: int = 33) -> jnp.ndarray:
    """Zero-pad bottom and right by `block - n % block` (always at least 1 pixel, up to a whole block).

    Args:
      img: [H, W] or [B, H, W, 1].
    Returns:
      [Hp, Wp] or [B, Hp, Wp, 1], Hp = H + block - H % block, likewise Wp.
    """
    x, batch = _grey(img, "NHWC")
    m = block_meta(x.shape[1], x.shape[2], block, batch)
    pads = [(0, m.padded_height - m.height), (0, m.padded_width - m.width)]
    return jnp.pad(img, pads if batch is None else [(0, 0)] + pads + [(0, 0)])


def image_to_blocks(img: jnp.ndarray, block: int = 33) -> tuple[jnp.ndarray, BlockMeta]:
    """Pad, then cut into flattened blocks.

    Args:
      img: [H, W] or [B, H, W, 1].
    Returns:
      rows [N, block**2] with N = B * (Hp/block) * (Wp/block) (B = 1 for [H, W]), and the BlockMeta.
    """
    x, batch = _grey(img, "NHWC")
    m = block_meta(x.shape[1], x.shape[2], block, batch)
    x = jnp.pad(x, [(0, 0), (0, m.padded_height - m.height), (0, m.padded_width - m.width)])
    rows = x.reshape(-1, m.padded_height // block, block, m.padded_width // block, block)
    rows = rows.transpose(0, 1, 3, 2, 4)  # [B, block row, block column, 33, 33]: raster order
    return rows.reshape(-1, block * block), m


def blocks_to_image(rows: jnp.ndarray, meta: BlockMeta) -> jnp.ndarray:
    """Inverse of `image_to_blocks`: reassemble and crop to the original size.

    Args:
      rows: [N, block**2] as `image_to_blocks` returns them.
    Returns:
      [H, W] or [B, H, W, 1], as the image given to `image_to_blocks`.
    """
    bk, b = meta.block, meta.batch or 1
    nh, nw = meta.padded_height // bk, meta.padded_width // bk
    if tuple(rows.shape) != (b * nh * nw, bk * bk):
        raise ValueError(f"rows: expected shape {(b * nh * nw, bk * bk)} for {meta}, got {tuple(rows.shape)}")
    x = rows.reshape(b, nh, nw, bk, bk).transpose(0, 1, 3, 2, 4).reshape(b, nh * bk, nw * bk)
    x = x[:, :meta.height, :meta.width]
    return x[0] if meta.batch is None else x[..., None]


def _check_matrix(a, name: str, cols: int, cols_of: str) -> None:
    check_float(a, name)
    if a.ndim != 2 or a.shape[1] != cols:
        raise ValueError(f"{name}: expected a matrix with {cols} columns ({cols_of}), got shape {tuple(a.shape)}")


def measure(blocks: jnp.ndarray, phi: jnp.ndarray) -> jnp.ndarray:
    """Measurements y = x Phi^T.

    Args:
      blocks: [N, n] float (n = block**2, 1089 for ISTA-Net).
      phi: [M, n] sampling matrix (`phi` in phi_0_{ratio}_1089.mat).
    Returns:
      [N, M].
    """
    check_float(blocks, "blocks")
    if blocks.ndim != 2:
        raise ValueError(f"blocks: expected a matrix [N, n], got shape {tuple(blocks.shape)}")
    _check_matrix(phi, "phi", blocks.shape[1], "the block length n")
    return jnp.matmul(blocks, phi.T, precision=lax.Precision.HIGHEST)


def initial_estimate(y: jnp.ndarray, qinit: jnp.ndarray) -> jnp.ndarray:
    """Linear initial estimate x0 = y Qinit^T.

    Args:
      y: [N, M] measurements.
      qinit: [n, M] (`Qinit` in Initialization_Matrix_{ratio}.mat).
    Returns:
      [N, n].
    """
    check_float(y, "y")
    if y.ndim != 2:
        raise ValueError(f"y: expected a matrix [N, M], got shape {tuple(y.shape)}")
    _check_matrix(qinit, "qinit", y.shape[1], "the measurement count M")
    return jnp.matmul(y, qinit.T, precision=lax.Precision.HIGHEST)
