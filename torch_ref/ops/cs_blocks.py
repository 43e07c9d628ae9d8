"""Twin of jrestore.ops.cs_blocks on NCHW tensors: ISTA-Net block compressed sensing.

Images are [H, W] or [B, 1, H, W]. The always-pad rule and the block order are jrestore's (one
definition: `block_meta`, `BlockMeta`); the rearrangement and the matmuls are torch's own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from jrestore._validate import check_float
from jrestore.core.ops.cs_blocks import BlockMeta, _check_matrix, _grey, block_meta

__all__ = ["BlockMeta", "block_meta", "pad_to_blocks", "image_to_blocks", "blocks_to_image", "measure",
           "initial_estimate"]


def pad_to_blocks(img: torch.Tensor, block: int = 33) -> torch.Tensor:
    """Zero-pad bottom and right by `block - n % block`. img: [H, W] or [B, 1, H, W] -> [Hp, Wp] / [B, 1, Hp, Wp]."""
    x, batch = _grey(img, "NCHW")
    m = block_meta(x.shape[1], x.shape[2], block, batch)
    return F.pad(img, (0, m.padded_width - m.width, 0, m.padded_height - m.height))


def image_to_blocks(img: torch.Tensor, block: int = 33) -> tuple[torch.Tensor, BlockMeta]:
    """img: [H, W] or [B, 1, H, W] -> (rows [B * nblocks, block**2] in raster order, BlockMeta)."""
    x, batch = _grey(img, "NCHW")
    m = block_meta(x.shape[1], x.shape[2], block, batch)
    x = F.pad(x, (0, m.padded_width - m.width, 0, m.padded_height - m.height))
    rows = x.reshape(-1, m.padded_height // block, block, m.padded_width // block, block).permute(0, 1, 3, 2, 4)
    return rows.reshape(-1, block * block), m


def blocks_to_image(rows: torch.Tensor, meta: BlockMeta) -> torch.Tensor:
    """rows [N, block**2] -> [H, W] or [B, 1, H, W], cropped to the original size."""
    bk, b = meta.block, meta.batch or 1
    nh, nw = meta.padded_height // bk, meta.padded_width // bk
    if tuple(rows.shape) != (b * nh * nw, bk * bk):
        raise ValueError(f"rows: expected shape {(b * nh * nw, bk * bk)} for {meta}, got {tuple(rows.shape)}")
    x = rows.reshape(b, nh, nw, bk, bk).permute(0, 1, 3, 2, 4).reshape(b, nh * bk, nw * bk)
    x = x[:, :meta.height, :meta.width]
    return x[0] if meta.batch is None else x[:, None]


def measure(blocks: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """y = x Phi^T. blocks: [N, n] float; phi: [M, n] -> [N, M]."""
    check_float(blocks, "blocks")
    if blocks.ndim != 2:
        raise ValueError(f"blocks: expected a matrix [N, n], got shape {tuple(blocks.shape)}")
    _check_matrix(phi, "phi", blocks.shape[1], "the block length n")
    return torch.mm(blocks, phi.t())


def initial_estimate(y: torch.Tensor, qinit: torch.Tensor) -> torch.Tensor:
    """x0 = y Qinit^T. y: [N, M] float; qinit: [n, M] -> [N, n]."""
    check_float(y, "y")
    if y.ndim != 2:
        raise ValueError(f"y: expected a matrix [N, M], got shape {tuple(y.shape)}")
    _check_matrix(qinit, "qinit", y.shape[1], "the measurement count M")
    return torch.mm(y, qinit.t())
