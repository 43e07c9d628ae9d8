"""Twin of jrestore.layers.norm: PyTorch's own BatchNorm2d is the reference."""
from torch.nn import BatchNorm2d

__all__ = ["BatchNorm2d"]
