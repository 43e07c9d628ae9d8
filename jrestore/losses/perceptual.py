"""Perceptual (VGG feature) and style (Gram matrix) loss.

Reference: XPixelGroup/BasicSR `basicsr/losses/basic_loss.py` `PerceptualLoss` on
`basicsr/archs/vgg_arch.py` `VGGFeatureExtractor`: same arguments, defaults and numerics.

    percep = perceptual_weight * sum_k layer_weights[k] * criterion(phi_k(x), phi_k(gt))
    style  = style_weight      * sum_k layer_weights[k] * criterion(gram(phi_k(x)), gram(phi_k(gt)))
    gram(f) = f^T f / (c h w) per image, f: [h w, c]

- Returns (percep_loss, style_loss); each is None when its weight is <= 0 (BasicSR's `> 0` test).
- criterion: 'l1' (mean |.|, nn.L1Loss), 'l2' (mean square, nn.MSELoss), 'fro' (Frobenius norm of the
  whole difference, batch included: torch.norm(p='fro')). Its gradient is taken as 0 at a zero difference,
  as PyTorch's norm backward does (jnp.linalg.norm would give NaN there).
- layer_weights: {tap: weight}; taps are jrestore.models.vgg names ('conv5_4' = before the ReLU, ESRGAN /
  BasicSR's `{'conv5_4': 1.}`; 'relu5_4' = SRGAN's VGG54) or torchvision indices (34, 35); two keys naming
  the same layer are an error.
- use_input_norm: ImageNet mean / std inside the VGG; range_norm: map [-1, 1] inputs by (x + 1) / 2 first.
- The VGG is frozen, as BasicSR's (requires_grad False): its parameters enter through jax.lax.stop_gradient,
  so autodiff treats them as constants (no backward pass to them; nnx.grad over this module returns exact
  zeros for them) and the gradient flows to `x` only (the target is stop_gradient-ed like BasicSR's
  gt.detach()). Build optimizers over the restoration network, not over this module.
- Weights: the VGG starts from PyTorch's default init (`num_feat` shrinks it for tests); for a real perceptual
  loss load torchvision ImageNet weights: `jrestore.convert.load_torchvision_features(loss.vgg,
  torch.load('vgg19-dcbb9e9d.pth'))`, or `load_torch_state_dict(loss, torch_ref_loss.state_dict())` (keys
  `vgg.features.{i}.weight`, as the torch_ref twin's).

Shapes: x, gt: [B, H, W, 3] RGB float32 in [0, 1] (or [-1, 1] with range_norm); H, W >= 2**(pools before the
deepest tap), e.g. 16 for conv5_4.
"""
from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from jrestore._validate import check_choice, check_image
from jrestore.losses.pixel import abs_torch_grad
from jrestore.models.vgg import VGG, VGG_BLOCKS, VGG_LAYERS, tap_index
from jrestore.core.losses.perceptual import (  # noqa: F401  framework-neutral part, shared with torch_ref
    CRITERIA, _is_number, check_pair, check_perceptual_args)

__all__ = ["PerceptualLoss", "CRITERIA", "check_perceptual_args", "gram_matrix"]


# ---- loss ----

def gram_matrix(f):
    """[n, h, w, c] -> [n, c, c] Gram matrix / (c h w), as BasicSR's _gram_mat."""
    n, h, w, c = f.shape
    f = f.reshape(n, h * w, c)
    return jnp.einsum("npc,npd->ncd", f, f, precision=jax.lax.Precision.HIGHEST) / (c * h * w)


def _criterion(kind: str, a, b):
    d = a - b
    if kind == "l1":
        return jnp.mean(abs_torch_grad(d))
    if kind == "l2":
        return jnp.mean(jnp.square(d))
    s = jnp.sum(jnp.square(d))
    positive = s > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, s, 1.0)), 0.0)  # gradient 0 at 0, as torch.norm


class PerceptualLoss(nnx.Module):
    """BasicSR PerceptualLoss: (x, gt) [B, H, W, 3] -> (percep_loss | None, style_loss | None).

    Args (BasicSR's, same defaults): layer_weights {tap: weight}, vgg_type ('vgg19' | 'vgg16'),
    use_input_norm (True), range_norm (False), perceptual_weight (1.0), style_weight (0.0),
    criterion ('l1' | 'l2' | 'fro'). Extra: num_feat (VGG first-block width, 64 = torchvision), rngs (VGG init;
    nnx.Rngs(0) if None, immaterial once ImageNet weights are loaded).
    """

    def __init__(self, layer_weights, vgg_type: str = "vgg19", use_input_norm: bool = True, range_norm: bool = False,
                 perceptual_weight: float = 1.0, style_weight: float = 0.0, criterion: str = "l1", *,
                 num_feat: int = 64, rngs: nnx.Rngs | None = None):
        self.taps, self.tap_weights = check_perceptual_args(layer_weights, vgg_type, use_input_norm, range_norm,
                                                            perceptual_weight, style_weight, criterion)
        self.vgg_type, self.range_norm, self.criterion = vgg_type, range_norm, criterion
        self.perceptual_weight, self.style_weight = float(perceptual_weight), float(style_weight)
        self.vgg = VGG(vgg_type, normalize=use_input_norm, num_feat=num_feat, default_taps=self.taps,
                       rngs=rngs if rngs is not None else nnx.Rngs(0))

    @property
    def layer_weights(self) -> dict[str, float]:
        return dict(zip(self.taps, self.tap_weights))

    def _frozen_vgg(self) -> VGG:
        # A copy of the VGG whose parameters are constants to autodiff (BasicSR: requires_grad = False).
        graphdef, params, rest = nnx.split(self.vgg, nnx.Param, ...)
        return nnx.merge(graphdef, jax.lax.stop_gradient(params), rest)

    def __call__(self, x: jax.Array, gt: jax.Array):
        check_pair(x, gt)
        if self.range_norm:
            x, gt = (x + 1.0) / 2.0, (gt + 1.0) / 2.0
        vgg = self._frozen_vgg()
        x_features = vgg(x, taps=self.taps)
        gt_features = vgg(jax.lax.stop_gradient(gt), taps=self.taps)
        percep_loss = style_loss = None
        if self.perceptual_weight > 0:
            percep_loss = 0.0
            for k, w in zip(self.taps, self.tap_weights):
                percep_loss = percep_loss + _criterion(self.criterion, x_features[k], gt_features[k]) * w
            percep_loss = percep_loss * self.perceptual_weight
        if self.style_weight > 0:
            style_loss = 0.0
            for k, w in zip(self.taps, self.tap_weights):
                style_loss = style_loss + _criterion(self.criterion, gram_matrix(x_features[k]),
                                                     gram_matrix(gt_features[k])) * w
            style_loss = style_loss * self.style_weight
        return percep_loss, style_loss
