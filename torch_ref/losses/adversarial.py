"""Twin of jrestore.losses.adversarial: BasicSR GANLoss as a function and ESRGAN's relativistic GAN loss.

Checks come from jrestore.losses.adversarial; see it for the formulas. 'vanilla' is
F.binary_cross_entropy_with_logits and 'lsgan' F.mse_loss against a label tensor, as BasicSR's GANLoss.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from jrestore._validate import check_float
from jrestore.core.losses.adversarial import GAN_TYPES, check_gan_args

__all__ = ["gan_loss", "relativistic_gan_loss", "GAN_TYPES"]


def _gan(x, target_is_real, is_disc, gan_type, real_label_val, fake_label_val, loss_weight):
    if gan_type in ("vanilla", "lsgan"):
        label = x.new_ones(x.size()) * (real_label_val if target_is_real else fake_label_val)
        loss = F.binary_cross_entropy_with_logits(x, label) if gan_type == "vanilla" else F.mse_loss(x, label)
    elif gan_type == "wgan":
        loss = -x.mean() if target_is_real else x.mean()
    elif gan_type == "wgan_softplus":
        loss = F.softplus(-x).mean() if target_is_real else F.softplus(x).mean()
    elif is_disc:  # hinge, discriminator
        loss = F.relu(1 + (-x if target_is_real else x)).mean()
    else:  # hinge, generator
        loss = -x.mean()
    return loss if is_disc else loss * loss_weight


def gan_loss(logits, target_is_real: bool, is_disc: bool = False, gan_type: str = "vanilla",
             real_label_val: float = 1.0, fake_label_val: float = 0.0, loss_weight: float = 1.0):
    """BasicSR GANLoss(gan_type, real_label_val, fake_label_val, loss_weight)(logits, target_is_real, is_disc)."""
    check_float(logits, "logits")
    check_gan_args(gan_type, {"target_is_real": target_is_real, "is_disc": is_disc},
                   {"real_label_val": real_label_val, "fake_label_val": fake_label_val, "loss_weight": loss_weight})
    return _gan(logits, target_is_real, is_disc, gan_type, real_label_val, fake_label_val, loss_weight)


def relativistic_gan_loss(real_logits, fake_logits, for_discriminator: bool, gan_type: str = "vanilla",
                          real_label_val: float = 1.0, fake_label_val: float = 0.0, loss_weight: float = 1.0):
    """ESRGAN's relativistic average GAN loss as BasicSR's ESRGANModel (see jrestore.losses.adversarial)."""
    check_float(real_logits, "real_logits")
    check_float(fake_logits, "fake_logits")
    check_gan_args(gan_type, {"for_discriminator": for_discriminator},
                   {"real_label_val": real_label_val, "fake_label_val": fake_label_val, "loss_weight": loss_weight})
    kw = dict(gan_type=gan_type, real_label_val=real_label_val, fake_label_val=fake_label_val, loss_weight=loss_weight)
    if for_discriminator:  # BasicSR: two backward passes, the other side's mean detached in each
        l_real = _gan(real_logits - torch.mean(fake_logits.detach()), True, True, **kw) * 0.5
        l_fake = _gan(fake_logits - torch.mean(real_logits.detach()), False, True, **kw) * 0.5
        return l_real + l_fake
    real_logits = real_logits.detach()
    l_real = _gan(real_logits - torch.mean(fake_logits), False, False, **kw)
    l_fake = _gan(fake_logits - torch.mean(real_logits), True, False, **kw)
    return (l_real + l_fake) / 2
