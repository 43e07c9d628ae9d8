"""Parameterised building blocks (Flax NNX modules) with PyTorch semantics and PyTorch attribute names."""
from jrestore.layers import init
from jrestore.layers.activation import GELU, LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from jrestore.layers.attention import ChannelAttention, SelfAttention2d
from jrestore.layers.blocks import DepthwiseSeparableConv2d, ResidualBlockNoBN, Sequential, SRResNetBlock
from jrestore.layers.conv import Conv2d, ConvTranspose2d
from jrestore.layers.init import init_weights
from jrestore.layers.linear import Linear
from jrestore.layers.norm import BatchNorm2d
from jrestore.layers.params import ConvKernel, ConvTransposeKernel, LinearKernel
from jrestore.layers.pool import MaxPool2d
from jrestore.layers.upsample import PixelShuffle, PixelUnshuffle, Upsample, Upsampler
