"""Twins of jrestore.layers.conv: PyTorch's own convolutions are the reference semantics."""
from torch.nn import Conv2d, ConvTranspose2d

__all__ = ["Conv2d", "ConvTranspose2d"]
