"""A model of your own as a jrestore plugin: a tiny residual denoiser, its PyTorch twin and its spec.

    jrestore verify --plugin examples/tiny_plugin.py --model tiny_denoiser --json
    jrestore restore --plugin examples/tiny_plugin.py --model tiny_denoiser --weights w.pth noisy.png out.png

The twins follow jrestore's naming rule: the same attribute names (conv1, conv2), so a PyTorch state_dict
key is the NNX state path, and jrestore.layers.Conv2d, which has PyTorch's explicit padding and init and
stores its kernel as a ConvKernel (the converter turns OIHW into HWIO by that kind). Nothing in jrestore is
edited: this file registers the JAX class, the torch class and the spec, and `--plugin` loads it.
"""
import jax
import numpy as np
import torch
from flax import nnx

from jrestore.core.spec import BenchEntry, ModelSpec, ParityCase, register_spec
from jrestore.layers import Conv2d
from jrestore.models import register as register_jax
from torch_ref.models import register as register_torch

NAME = "tiny_denoiser"


# ---- JAX (Flax NNX, NHWC) -------------------------------------------------------------------------------
@register_jax(NAME)
class TinyDenoiser(nnx.Module):
    """y = x - conv2(relu(conv1(x))): the network predicts the noise, as DnCNN does.

    x: [B, H, W, in_nc] float32 -> y: the same shape. Any H, W (3x3 convs, padding 1).
    """

    def __init__(self, in_nc: int = 1, nc: int = 16, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(in_nc, nc, 3, padding=1, rngs=rngs)
        self.conv2 = Conv2d(nc, in_nc, 3, padding=1, rngs=rngs)

    def __call__(self, x):
        return x - self.conv2(jax.nn.relu(self.conv1(x)))


# ---- PyTorch (NCHW) ---------------------------------------------------------------------------------------
@register_torch(NAME)
class TinyDenoiserTorch(torch.nn.Module):
    """The same network in PyTorch: x [B, in_nc, H, W] -> the same shape."""

    def __init__(self, in_nc: int = 1, nc: int = 16):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_nc, nc, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(nc, in_nc, 3, padding=1)

    def forward(self, x):
        return x - self.conv2(torch.relu(self.conv1(x)))


# ---- spec: what the commands need to know (jrestore.core.spec.ModelSpec) ----------------------------------
def _noisy_images(rng: np.random.Generator, full: bool) -> tuple:
    """Parity inputs: odd, non-square images in [0, 1] plus noise of sigma 25/255 (so some fall outside)."""
    shape = (1, 33, 29, 1) if full else (2, 17, 15, 1)
    return ((rng.uniform(0, 1, shape) + rng.normal(0, 25 / 255, shape)).astype(np.float32),)


register_spec(ModelSpec(
    NAME, kind="denoise",
    channels_arg="in_nc",  # --set in_nc=3 makes a colour model; restore/eval read the image channels from it
    halo=lambda kw: 2,  # two 3x3 convs: an output pixel sees 2 input pixels each side (exact tiling)
    # constructor arguments a PyTorch-layout checkpoint determines: conv1.weight is [nc, in_nc, 3, 3]
    weights_rule=lambda shapes: {"nc": shapes("conv1.weight")[0], "in_nc": shapes("conv1.weight")[1]},
    parity=ParityCase(small={"nc": 8}, inputs=_noisy_images, train_mode=False),  # no BatchNorm
    bench=(BenchEntry(NAME, {"nc": 16}, batch=8, input_hw=(64, 64)),),
))
