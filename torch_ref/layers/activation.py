"""Twins of jrestore.layers.activation: PyTorch's own activations are the reference."""
from torch.nn import GELU, LeakyReLU, PReLU, ReLU, Sigmoid, Tanh

__all__ = ["PReLU", "LeakyReLU", "ReLU", "Sigmoid", "Tanh", "GELU"]
