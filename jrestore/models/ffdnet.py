"""FFDNet: a fast and flexible denoiser that takes the noise level as an input map.

Paper: K. Zhang, W. Zuo, L. Zhang, "FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image
Denoising", IEEE TIP 27(9), 2018.
Numerics and module names match cszn/KAIR `models/network_ffdnet.py` (`FFDNet(in_nc, out_nc, nc, nb,
act_mode)`: `m_down` pixel-unshuffle, `model` the flattened conv stack, `m_up` pixel-shuffle), so KAIR's
state dicts load by rule (`model.{0,2,...}.{weight,bias}` with the default act_mode='R').

    x [B, H, W, in_nc], sigma [B, 1, 1, 1]
    replicate-pad H, W to even -> pixel_unshuffle(2) -> [B, H/2, W/2, 4 in_nc]
    concat the noise-level map (sigma repeated over H/2 x W/2) as the LAST channel -> 4 in_nc + 1 channels
    conv3x3 + act; (nb - 2) x conv3x3 (+ BN) + act; conv3x3 -> 4 out_nc
    pixel_shuffle(2) -> crop to H x W

Parity notes:
- Odd sizes: KAIR pads right / bottom by one pixel with `nn.ReplicationPad2d((0, pad_r, 0, pad_b))`
  (= jnp.pad mode 'edge' on the high side) and crops the output back, so any H x W works.
- pixel (un)shuffle in PyTorch's channel order (c, i, j) (KAIR's own `B.PixelUnShuffle` uses the same
  view / permute(0, 1, 3, 5, 2, 4) order as torch.nn.PixelUnshuffle), docs/conventions.md §3.
- sigma is the noise standard deviation on the [0, 1] scale (sigma / 255 for 8-bit levels), one value per
  image: an array [B, 1, 1, 1] (KAIR's `sigma.repeat(1, 1, H/2, W/2)` needs exactly that) or a scalar,
  broadcast to the batch. The output is the denoised image itself (no residual), not clamped.
- act_mode / BN as KAIR's `basicblock.conv` (see jrestore.models.dncnn): default 'R' (no BN, as the
  released FFDNet models); 'BR' adds BatchNorm2d(momentum=0.9, eps=1e-4) in the body. PyTorch default init.

Seed variants: seed 004 names FFDNet only as a row of its comparison table; every option here is
KAIR's (the seed describes none).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_float, check_image, check_int
from jrestore.layers.upsample import PixelShuffle, PixelUnshuffle
from jrestore.models._registry import register
from jrestore.models.dncnn import check_act_mode, kair_conv_stack
from jrestore.core.models.ffdnet import (  # noqa: F401  framework-neutral part, shared with torch_ref
    SF, check_ffdnet_args, check_sigma, even_padding)

__all__ = ["FFDNet", "check_ffdnet_args", "check_sigma", "even_padding"]


# ---- module ----

@register("ffdnet")
class FFDNet(nnx.Module):
    """FFDNet: (x [B, H, W, in_nc] float32, sigma [B, 1, 1, 1] or scalar on the [0, 1] scale) -> [B, H, W, out_nc].

    Args (KAIR's names): in_nc (1; 3 for colour), out_nc (1), nc (64; KAIR uses 96 for colour), nb (15
    conv layers; 12 for colour), act_mode ('R').
    """

    def __init__(self, in_nc: int = 1, out_nc: int = 1, nc: int = 64, nb: int = 15, act_mode: str = "R", *,
                 rngs: nnx.Rngs):
        check_ffdnet_args(in_nc, out_nc, nc, nb, act_mode)
        self.in_nc = in_nc
        self.m_down = PixelUnshuffle(SF)
        self.model = kair_conv_stack(in_nc * SF * SF + 1, out_nc * SF * SF, nc, nb, act_mode, rngs=rngs)
        self.m_up = PixelShuffle(SF)

    def __call__(self, x: jax.Array, sigma) -> jax.Array:
        check_image(x, "x", channels=self.in_nc)
        b, h, w, _ = x.shape
        scalar = check_sigma(sigma, b)
        pad_b, pad_r = even_padding(h, w)
        x = jnp.pad(x, ((0, 0), (0, pad_b), (0, pad_r), (0, 0)), mode="edge")
        x = self.m_down(x)
        sigma = jnp.asarray(sigma, x.dtype)
        m = jnp.broadcast_to(sigma if not scalar else sigma.reshape(1, 1, 1, 1), (b, *x.shape[1:3], 1))
        x = self.model(jnp.concatenate([x, m], axis=-1))
        return self.m_up(x)[:, :h, :w, :]
