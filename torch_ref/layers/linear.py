"""Twin of jrestore.layers.linear: PyTorch's own Linear is the reference."""
from torch.nn import Linear

__all__ = ["Linear"]
