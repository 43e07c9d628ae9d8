"""Twin of jrestore.losses.perceptual on NCHW tensors: BasicSR's PerceptualLoss on torch_ref.models.vgg.

Same arguments, checks (imported from jrestore) and numerics; see jrestore.losses.perceptual. The VGG's
parameters have requires_grad False and it is kept in eval mode (BasicSR VGGFeatureExtractor); its state-dict
keys are `vgg.features.{i}.weight` / `.bias`, the jrestore twin's state paths.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from jrestore.core.losses.perceptual import check_pair, check_perceptual_args
from torch_ref.models.vgg import VGG

__all__ = ["PerceptualLoss", "gram_matrix"]


def gram_matrix(f):
    """[n, c, h, w] -> [n, c, c] Gram matrix / (c h w) (BasicSR _gram_mat)."""
    n, c, h, w = f.size()
    features = f.reshape(n, c, w * h)
    return features.bmm(features.transpose(1, 2)) / (c * h * w)


def _criterion(kind: str, a, b):
    if kind == "l1":
        return F.l1_loss(a, b)
    if kind == "l2":
        return F.mse_loss(a, b)
    return torch.linalg.vector_norm(a - b)  # = torch.norm(a - b, p='fro') over all elements, as BasicSR


class PerceptualLoss(nn.Module):
    """BasicSR PerceptualLoss: (x, gt) [B, 3, H, W] -> (percep_loss | None, style_loss | None)."""

    def __init__(self, layer_weights, vgg_type: str = "vgg19", use_input_norm: bool = True, range_norm: bool = False,
                 perceptual_weight: float = 1.0, style_weight: float = 0.0, criterion: str = "l1", *,
                 num_feat: int = 64):
        super().__init__()
        self.taps, self.tap_weights = check_perceptual_args(layer_weights, vgg_type, use_input_norm, range_norm,
                                                            perceptual_weight, style_weight, criterion)
        self.vgg_type, self.range_norm, self.criterion = vgg_type, range_norm, criterion
        self.perceptual_weight, self.style_weight = float(perceptual_weight), float(style_weight)
        self.vgg = VGG(vgg_type, normalize=use_input_norm, num_feat=num_feat, default_taps=self.taps)
        self.vgg.eval()
        for p in self.vgg.parameters():
            p.requires_grad = False

    @property
    def layer_weights(self) -> dict[str, float]:
        return dict(zip(self.taps, self.tap_weights))

    def forward(self, x, gt):
        check_pair(x, gt, layout="NCHW")
        if self.range_norm:
            x, gt = (x + 1.0) / 2.0, (gt + 1.0) / 2.0
        x_features = self.vgg(x, taps=self.taps)
        gt_features = self.vgg(gt.detach(), taps=self.taps)
        percep_loss = style_loss = None
        if self.perceptual_weight > 0:
            percep_loss = 0
            for k, w in zip(self.taps, self.tap_weights):
                percep_loss = percep_loss + _criterion(self.criterion, x_features[k], gt_features[k]) * w
            percep_loss = percep_loss * self.perceptual_weight
        if self.style_weight > 0:
            style_loss = 0
            for k, w in zip(self.taps, self.tap_weights):
                style_loss = style_loss + _criterion(self.criterion, gram_matrix(x_features[k]),
                                                     gram_matrix(gt_features[k])) * w
            style_loss = style_loss * self.style_weight
        return percep_loss, style_loss
