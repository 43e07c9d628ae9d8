"""The framework-neutral part of jrestore.layers.attention: its argument checks, constants and NumPy helpers.

Shared by jrestore.layers.attention and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

__all__ = ["AUTO_BLOCK_ELEMENTS", "check_attention_args", "check_chunk_size", "resolve_chunk_size"]


# chunk_size="auto": at most 4096 x 4096 attention scores per block and image (64 MiB float32; XLA keeps two
# such arrays live, the scores and their exponentials), so the naive matrix up to 64x64 pixels and a bounded
# block above: 1024 query rows at 128x128, 256 at 256x256, 64 at 512x512.
AUTO_BLOCK_ELEMENTS = 4096 * 4096


def check_attention_args(channels: int, divisor: int, name: str, divisor_name: str) -> int:
    """channels // divisor, which must be >= 1."""
    for value, n in ((channels, name), (divisor, divisor_name)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{n}: expected a positive int, got {value!r}")
    if channels // divisor < 1:
        raise ValueError(f"{name}: expected at least {divisor} channels ({name} // {divisor} >= 1), got {channels}")
    return channels // divisor


def check_chunk_size(chunk_size, name: str = "chunk_size") -> None:
    if chunk_size is None or chunk_size == "auto":
        return
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{name}: expected None, 'auto' or a positive int, got {chunk_size!r}")


def resolve_chunk_size(chunk_size: int | str | None, n: int) -> int | None:
    """Query rows per block for n pixels, or None for one [n, n] matrix (a block of >= n rows is that)."""
    if chunk_size == "auto":
        chunk_size = max(1, AUTO_BLOCK_ELEMENTS // n)
    return None if chunk_size is None or chunk_size >= n else chunk_size
