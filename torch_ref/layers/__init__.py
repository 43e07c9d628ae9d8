"""PyTorch twins of jrestore.layers."""
from torch_ref.layers.conv import Conv2d, ConvTranspose2d
