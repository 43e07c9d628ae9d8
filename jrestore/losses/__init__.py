"""jrestore.losses: training losses, pure jit-able functions (and one NNX module), mirrored by torch_ref.losses.

| name              | callable                  | reference                                          |
|-------------------|---------------------------|----------------------------------------------------|
| `l1`              | `l1_loss`                 | BasicSR basic_loss.py + loss_util.weighted_loss    |
| `mse`             | `mse_loss`                | BasicSR basic_loss.py                              |
| `charbonnier`     | `charbonnier_loss`        | BasicSR basic_loss.py (eps 1e-12 inside the root)  |
| `ssim`            | `ssim_loss`               | 1 - jrestore.metrics.ssim (Gaussian 11x11)         |
| `mixed_l1_ssim`   | `mixed_l1_ssim_loss`      | Zhao et al. 2017, ssim_weight (alpha) 0.84         |
| `perceptual`      | `PerceptualLoss` (module) | BasicSR PerceptualLoss (VGG taps, Gram style loss) |
| `gan`             | `gan_loss`                | BasicSR gan_loss.py GANLoss                        |
| `relativistic_gan`| `relativistic_gan_loss`   | BasicSR esrgan_model.py (ESRGAN RaGAN)             |
| `ista_net`        | `ista_net_loss`           | ISTA-Net-PyTorch Train_CS_ISTA_Net_plus.py         |
| `ista_net_constraint` | `ista_net_constraint_loss` | its loss_constraint                          |

`LOSSES[name]` / `get(name)` pick one by name (a training config's `loss: l1`); an unknown name raises a
ValueError listing the valid ones.
"""
from __future__ import annotations

from jrestore.losses.adversarial import gan_loss, relativistic_gan_loss
from jrestore.losses.cs import ista_net_constraint_loss, ista_net_loss
from jrestore.losses.perceptual import PerceptualLoss
from jrestore.losses.pixel import charbonnier_loss, l1_loss, mse_loss
from jrestore.losses.ssim_loss import mixed_l1_ssim_loss, ssim_loss

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
