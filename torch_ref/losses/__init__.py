"""torch_ref.losses: the PyTorch twins of jrestore.losses (same names, arguments and registry; NCHW)."""
from __future__ import annotations

from torch_ref.losses.adversarial import gan_loss, relativistic_gan_loss
from torch_ref.losses.cs import ista_net_constraint_loss, ista_net_loss
from torch_ref.losses.perceptual import PerceptualLoss
from torch_ref.losses.pixel import charbonnier_loss, l1_loss, mse_loss
from torch_ref.losses.ssim_loss import mixed_l1_ssim_loss, ssim_loss

__all__ = ["l1_loss", "mse_loss", "charbonnier_loss", "ssim_loss", "mixed_l1_ssim_loss", "PerceptualLoss",
           "gan_loss", "relativistic_gan_loss", "ista_net_constraint_loss", "ista_net_loss", "LOSSES", "get", "names"]

LOSSES = {
    "l1": l1_loss,
    "mse": mse_loss,
    "charbonnier": charbonnier_loss,
    "ssim": ssim_loss,
    "mixed_l1_ssim": mixed_l1_ssim_loss,
    "perceptual": PerceptualLoss,
    "gan": gan_loss,
    "relativistic_gan": relativistic_gan_loss,
    "ista_net": ista_net_loss,
    "ista_net_constraint": ista_net_constraint_loss,
}


def names() -> list[str]:
    return sorted(LOSSES)


def get(name: str):
    """The loss callable registered as `name` (PerceptualLoss is a class: build it with its arguments)."""
    if name not in LOSSES:
        raise ValueError(f"name: expected one of {names()}, got {name!r}")
    return LOSSES[name]
