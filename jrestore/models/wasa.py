"""WASA: wavelet + attention super-resolution (residual wavelet-attention blocks and SAGAN self-attention).

Design: "基于卷积神经网络与小波变换的医学图像超分辨率算法复现" (a CNN + wavelet + self-attention medical-image
SR reproduction; summarised in docs/conventions.md §15), which builds on MWCNN's Haar DWT
(P. Liu et al., "Multi-level Wavelet-CNN for Image Restoration", CVPRW 2018), a channel attention with
average and max pooling, and SAGAN's self-attention (H. Zhang et al., "Self-Attention Generative
Adversarial Networks", ICML 2019). There is no published repository or checkpoint: numerics and module
names match that design's PyTorch (`WASA`, `RWAB`: `head`, `body.{i}.conv1/conv2/ca.fc/conv3`, `sa`,
`upsample.{0,2,4}`, `skip.{0,1,2}`), mirrored in torch_ref.models.wasa.

Network, for LR x [B, H, W, C]:
  x_up = bicubic(x, scale)                                   (PyTorch's F.interpolate bicubic)
  f    = head(x)                                             conv3x3 C -> F
  y    = sa(body(f)) + f                                     num_block x RWAB, then SelfAttention2d(F)
  out  = upsample(y) + skip(x_up)                            sub-pixel upsampler; three plain convs
RWAB(x) = conv3(iwt(ca(conv2(relu(conv1(dwt(x))))))) + x,   conv1 / conv2 4F -> 4F, conv3 F -> F (all 3x3).
upsample: x2 [conv3x3 F -> 4F, PixelShuffle(2), conv3x3 F -> C]; x4 the conv + shuffle pair twice, then
conv3x3 F -> C (indices 0, 2, 4). skip: conv5x5 C -> F (padding 2), conv3x3 F -> F, conv3x3 F -> C.

Parity notes:
- Sketch decisions: the sketch hard-codes 3 image channels; here `num_channels` sets the head's and skip's
  input and the upsampler's and skip's output. The sketch's ChannelAttention reduction is its default 16;
  here it is the `reduction` argument (4F // reduction >= 1). The seed leaves `upsample` undefined for
  scales other than 2 and 4 (an AttributeError at the first call): here that is a ValueError at
  construction. Its DWT/IWT modules carry no parameters (their `requires_grad = False` attribute has no
  effect), so they are the functions jrestore.ops.wavelet.dwt / iwt; its IWT writes into a float32
  `torch.zeros(...)` buffer, torch_ref's stacks instead (same values, any dtype, CPU). The sketch's in-place
  `x += residual` never aliases a tensor that is used again, so the sums here are out-of-place.
- Bicubic skip input: PyTorch's default bicubic (a = -0.75, clamped edges, no antialias; `scale_factor`
  = integer scale, so out = in * scale) = jrestore.ops.resize.resize_bicubic_torch (docs/conventions.md
  §4). Not MATLAB.
- ChannelAttention sums two sigmoids, fc(avg) + fc(max), each in (0, 1) (not CBAM's single sigmoid);
  SelfAttention2d has no 1/sqrt(d) scaling and gamma initialised to 0 (jrestore.layers.attention,
  docs/conventions.md §6).
  Self-attention over the F-channel LR feature map is [B, HW, HW]: quadratic in pixels (a 512x512 LR
  input: 2.6e5 pixels, 256 GiB per image). `attention_chunk` (SelfAttention2d's chunk_size; "auto" by
  default, the naive matrix up to 4096 LR pixels) computes it in exact blocks of query rows, O(chunk * HW);
  it changes no parameter and no state-dict key.
- Haar sub-bands are concatenated sub-band-major [LL, HL, LH, HH] (docs/conventions.md §13), which conv1 /
  ca / iwt rely on.
- No normalisation layers, no output activation or clamp. Init: PyTorch's defaults (as the sketch).
- Inputs need even H and W (the DWT halves them); odd sizes raise ValueError.

Seed variants (seed 001): the defaults are the seed's network (x2, 3 channels, 64 features, 16 RWABs,
reduction 16); `scale` 2 and 4 are the seed's two `scale_factor` branches; `attention_chunk` changes memory
only (exact blocks), not the seed's maths.
"""
from __future__ import annotations

import jax
from flax import nnx

from jrestore._validate import check_choice, check_image, check_int
from jrestore.layers.attention import ChannelAttention, SelfAttention2d, check_chunk_size
from jrestore.layers.blocks import Sequential
from jrestore.layers.conv import Conv2d
from jrestore.layers.upsample import PixelShuffle
from jrestore.models._registry import register
from jrestore.ops.resize import resize_bicubic_torch
from jrestore.ops.wavelet import dwt, iwt
from jrestore.core.models.wasa import (  # noqa: F401  framework-neutral part, shared with torch_ref
    WASA_SCALES, check_wasa_args, check_wasa_input)

__all__ = ["WASA", "RWAB", "WASA_SCALES", "check_wasa_args", "check_wasa_input"]


# ---- modules ----

class RWAB(nnx.Module):
    """Residual wavelet-attention block: x [B, H, W, num_feat] (H, W even) -> same shape."""

    def __init__(self, num_feat: int, reduction: int = 16, *, rngs: nnx.Rngs):
        c4 = 4 * num_feat
        self.conv1 = Conv2d(c4, c4, 3, 1, 1, rngs=rngs)
        self.conv2 = Conv2d(c4, c4, 3, 1, 1, rngs=rngs)
        self.ca = ChannelAttention(c4, reduction, rngs=rngs)
        self.conv3 = Conv2d(num_feat, num_feat, 3, 1, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.nn.relu(self.conv1(dwt(x)))
        y = iwt(self.ca(self.conv2(y)))
        return self.conv3(y) + x


@register("wasa")
class WASA(nnx.Module):
    """WASA: LR x [B, H, W, num_channels] float32 (H, W even) -> HR [B, H * scale, W * scale, num_channels].

    Args: scale (2 or 4), num_channels (3), num_feat (64; >= 8), num_block (16 RWABs), reduction (16, the
    channel attention's, on 4 * num_feat channels), attention_chunk (SelfAttention2d's chunk_size: "auto",
    naive up to 64x64 LR pixels and bounded blocks above; None, one [B, HW, HW] matrix; or query rows per
    block). Output is linear (not clamped).
    """

    def __init__(self, scale: int = 2, num_channels: int = 3, num_feat: int = 64, num_block: int = 16,
                 reduction: int = 16, attention_chunk: int | str | None = "auto", *, rngs: nnx.Rngs):
        stages = check_wasa_args(scale, num_channels, num_feat, num_block, reduction, attention_chunk)
        self.scale, self.num_channels = scale, num_channels
        self.head = Conv2d(num_channels, num_feat, 3, 1, 1, rngs=rngs)
        self.body = Sequential(*[RWAB(num_feat, reduction, rngs=rngs) for _ in range(num_block)])
        self.sa = SelfAttention2d(num_feat, chunk_size=attention_chunk, rngs=rngs)
        up = []
        for _ in range(stages):
            up += [Conv2d(num_feat, 4 * num_feat, 3, 1, 1, rngs=rngs), PixelShuffle(2)]
        self.upsample = Sequential(*up, Conv2d(num_feat, num_channels, 3, 1, 1, rngs=rngs))
        self.skip = Sequential(Conv2d(num_channels, num_feat, 5, 1, 2, rngs=rngs),
                               Conv2d(num_feat, num_feat, 3, 1, 1, rngs=rngs),
                               Conv2d(num_feat, num_channels, 3, 1, 1, rngs=rngs))

    def __call__(self, x: jax.Array) -> jax.Array:
        check_wasa_input(x, self.num_channels)
        x_up = resize_bicubic_torch(x, scale=self.scale)
        f = self.head(x)
        y = self.sa(self.body(f)) + f
        return self.upsample(y) + self.skip(x_up)
