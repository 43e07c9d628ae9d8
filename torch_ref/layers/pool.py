"""Twins of jrestore.layers.pool: PyTorch's own pooling is the reference."""
from torch.nn import MaxPool2d

__all__ = ["MaxPool2d"]
