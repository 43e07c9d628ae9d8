"""Block compressed sensing as in the ISTA-Net authors' test script (TEST_CS_ISTA_Net_plus.py).

Protocol (docs/conventions.md §13):
- zero-pad right and bottom by `block - n % block`. This ALWAYS pads: a side that is already a multiple
  of the block grows by a whole block (a 33x33 image becomes 66x66), as the official `imread_CS_py` does;
- cut block x block tiles in raster order (row of blocks by row of blocks), flatten each row-major into
  one row of `block**2` values (ISTA-Net later views a row as [1, 33, 33], the same order);
- y = x Phi^T (`measure`), x0 = y Qinit^T (`initial_estimate`), at HIGHEST matmul precision (docs/conventions.md §11).

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
from jrestore.core.ops.cs_blocks import (  # noqa: F401  framework-neutral part, shared with torch_ref
    BlockMeta, _check_matrix, _grey, block_meta)

__all__ = ["BlockMeta", "block_meta", "pad_to_blocks", "image_to_blocks", "blocks_to_image", "measure",
           "initial_estimate"]


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
