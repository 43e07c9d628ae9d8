"""Every option jrestore.layers.Conv2d / ConvTranspose2d accepts, run forward and backward against torch.nn.

torch_ref's Conv2d and ConvTranspose2d ARE torch.nn's, so these compare jrestore with PyTorch itself: stride,
int / pair / 'same' / 'valid' padding, padding_mode (zeros, reflect, replicate, circular), dilation, groups
(depthwise included), bias on and off, and for ConvTranspose2d output_padding, dilation and groups (the
grouped transposed kernel is [in, out / groups, kh, kw] and is regrouped by jrestore). Weights perturbed;
outputs (tolerances.LAYER), input and parameter gradients (tolerances.GRADIENT, relative) via
test_layers_parity.check_layer. Odd sizes so that stride and 'same' rounding show.
"""
import pytest
import torch
from flax import nnx

import jrestore.layers as jl
from parity_tests.test_layers_parity import _abstract, _x, check_layer

CONV = {  # name: (kwargs for both constructors, in_channels, out_channels, kernel_size)
    "stride2_pad1": (dict(stride=2, padding=1), 3, 4, 3),
    "pair_stride_padding_rect_kernel": (dict(stride=(2, 1), padding=(1, 2)), 3, 4, (3, 5)),
    "same_even_kernel_dilated": (dict(padding="same", dilation=2), 3, 4, 4),  # odd pad pixel on the high side
    "same_rect_kernel": (dict(padding="same"), 3, 4, (2, 5)),
    "valid": (dict(padding="valid", stride=3), 3, 4, 3),
    "reflect": (dict(padding=(1, 2), padding_mode="reflect", stride=2), 3, 4, 3),
    "replicate": (dict(padding=2, padding_mode="replicate"), 3, 4, (5, 3)),
    "circular": (dict(padding=(2, 1), padding_mode="circular", dilation=(1, 2)), 3, 4, 3),
    "reflect_same": (dict(padding="same", padding_mode="reflect"), 3, 4, 4),
    "dilation_pair": (dict(dilation=(2, 3), padding=2), 3, 4, 3),
    "groups3_nobias": (dict(groups=3, padding=1, bias=False), 6, 9, 3),
    "depthwise_stride2": (dict(groups=4, stride=2, padding=1), 4, 8, 3),
}

CONV_TRANSPOSE = {
    "stride2_output_padding": (dict(stride=2, padding=1, output_padding=1), 4, 3, 3),
    "groups2_stride2": (dict(groups=2, stride=2, padding=1), 4, 6, 4),
    "dilation_output_padding": (dict(stride=3, padding=(1, 0), output_padding=2, dilation=2), 3, 4, 3),
    "rect_kernel_pair_stride_nobias": (dict(stride=(2, 1), padding=(0, 1), bias=False), 3, 5, (3, 2)),
    "depthwise_groups": (dict(groups=3, stride=2, output_padding=(1, 0)), 3, 6, 3),
    # the sub-pixel (phase) form jrestore uses for dilation 1: FSRCNN's x3 layer, a kernel smaller than the
    # stride (phases without taps), padding past the kernel (the phase window is cropped, not padded)
    "fsrcnn_x3": (dict(stride=3, padding=4, output_padding=2), 4, 1, 9),
    "kernel_below_stride": (dict(stride=3, output_padding=(1, 2)), 3, 2, 2),
    "padding_past_kernel": (dict(stride=2, padding=(3, 2), output_padding=1), 3, 4, 3),
}


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")  # torch notes a padded copy
@pytest.mark.parametrize("name", sorted(CONV))
def test_conv2d_option_against_torch(name):
    kwargs, c_in, c_out, k = CONV[name]
    tm = torch.nn.Conv2d(c_in, c_out, k, **kwargs)
    jm = _abstract(lambda: jl.Conv2d(c_in, c_out, k, **kwargs, rngs=nnx.Rngs(0)))
    check_layer(tm, jm, _x((2, 11, 9, c_in), seed=len(name)), seed=len(name), modes=("eval",))


@pytest.mark.parametrize("name", sorted(CONV_TRANSPOSE))
def test_conv_transpose2d_option_against_torch(name):
    kwargs, c_in, c_out, k = CONV_TRANSPOSE[name]
    tm = torch.nn.ConvTranspose2d(c_in, c_out, k, **kwargs)
    jm = _abstract(lambda: jl.ConvTranspose2d(c_in, c_out, k, **kwargs, rngs=nnx.Rngs(0)))
    check_layer(tm, jm, _x((2, 7, 5, c_in), seed=len(name)), seed=len(name), modes=("eval",))
