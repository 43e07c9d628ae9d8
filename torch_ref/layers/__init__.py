"""PyTorch twins of jrestore.layers."""
from torch_ref.layers import init
from torch_ref.layers.activation import GELU, LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from torch_ref.layers.attention import ChannelAttention, SelfAttention2d
from torch_ref.layers.blocks import DepthwiseSeparableConv2d, ResidualBlockNoBN, Sequential, SRResNetBlock
from torch_ref.layers.conv import Conv2d, ConvTranspose2d
from torch_ref.layers.init import init_weights
from torch_ref.layers.linear import Linear
from torch_ref.layers.norm import BatchNorm2d
from torch_ref.layers.pool import MaxPool2d
from torch_ref.layers.upsample import PixelShuffle, PixelUnshuffle, Upsample, Upsampler
