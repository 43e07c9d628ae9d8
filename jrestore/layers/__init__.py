"""Parameterised building blocks (Flax NNX modules) with PyTorch semantics and PyTorch attribute names."""
from jrestore.layers.conv import Conv2d, ConvTranspose2d
from jrestore.layers.params import ConvKernel, ConvTransposeKernel, LinearKernel
