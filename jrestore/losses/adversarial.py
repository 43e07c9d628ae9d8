"""GAN losses: BasicSR's GANLoss as a function, and ESRGAN's relativistic average GAN loss.

References: XPixelGroup/BasicSR `basicsr/losses/gan_loss.py` `GANLoss` (gan_type 'vanilla', 'lsgan', 'wgan',
'wgan_softplus', 'hinge'; real_label_val 1.0, fake_label_val 0.0, loss_weight 1.0) and
`basicsr/models/esrgan_model.py` `ESRGANModel.optimize_parameters` (relativistic average GAN of ESRGAN,
X. Wang et al., ECCV Workshops 2018).

gan_loss(logits, target_is_real, is_disc):
- 'vanilla': mean BCE-with-logits against the label (real_label_val / fake_label_val), computed as
  softplus(x) - x * label, the stable form nn.BCEWithLogitsLoss uses.
- 'lsgan': mean (x - label)^2.
- 'wgan': -mean(x) for real, mean(x) for fake; 'wgan_softplus': mean softplus(-x) for real, softplus(x) for
  fake (StyleGAN2's logistic / non-saturating loss). Both ignore the label values.
- 'hinge': discriminator mean relu(1 - x) for real, relu(1 + x) for fake; generator -mean(x) whatever
  target_is_real says.
- loss_weight scales generator losses only (is_disc=False), as BasicSR ("always 1.0 for discriminators").

relativistic_gan_loss(real_logits, fake_logits, for_discriminator), D_Ra(a, b) = a - mean(b):
- generator: (gan(D_Ra(real, fake), False) + gan(D_Ra(fake, real), True)) / 2, with real_logits detached
  (no gradient to them), loss_weight applied.
- discriminator: gan(D_Ra(real, fake), True) / 2 + gan(D_Ra(fake, real), False) / 2, each term with the
  *other* side's mean detached, as current BasicSR, which backpropagates the two halves separately with
  `torch.mean(fake_d_pred)` / `torch.mean(real_d_pred.detach())` constants. (The original ESRGAN / older
  BasicSR code backpropagates through both means: same value, a different discriminator gradient.)

Shapes: logits: any shape, e.g. [B, 1] from a VGG-style discriminator or a [B, h, w, 1] patch map; float32.
target_is_real, is_disc, for_discriminator: Python bools (static under jit).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jrestore._validate import check_choice, check_float
from jrestore.core.losses.adversarial import (  # noqa: F401  framework-neutral part, shared with torch_ref
    GAN_TYPES, check_gan_args)

__all__ = ["gan_loss", "relativistic_gan_loss", "GAN_TYPES", "check_gan_args"]


def _gan(x, target_is_real, is_disc, gan_type, real_label_val, fake_label_val, loss_weight):
    label = real_label_val if target_is_real else fake_label_val
    if gan_type == "vanilla":
        loss = jnp.mean(jax.nn.softplus(x) - x * label)
    elif gan_type == "lsgan":
        loss = jnp.mean(jnp.square(x - label))
    elif gan_type == "wgan":
        loss = -jnp.mean(x) if target_is_real else jnp.mean(x)
    elif gan_type == "wgan_softplus":
        loss = jnp.mean(jax.nn.softplus(-x)) if target_is_real else jnp.mean(jax.nn.softplus(x))
    elif is_disc:  # hinge, discriminator
        loss = jnp.mean(jax.nn.relu(1.0 + (-x if target_is_real else x)))
    else:  # hinge, generator
        loss = -jnp.mean(x)
    return loss if is_disc else loss * loss_weight


def gan_loss(logits, target_is_real: bool, is_disc: bool = False, gan_type: str = "vanilla",
             real_label_val: float = 1.0, fake_label_val: float = 0.0, loss_weight: float = 1.0):
    """BasicSR GANLoss(gan_type, real_label_val, fake_label_val, loss_weight)(logits, target_is_real, is_disc).

    logits: discriminator outputs, any shape, float32. Returns a scalar.
    """
    check_float(logits, "logits")
    check_gan_args(gan_type, {"target_is_real": target_is_real, "is_disc": is_disc},
                   {"real_label_val": real_label_val, "fake_label_val": fake_label_val, "loss_weight": loss_weight})
    return _gan(logits, target_is_real, is_disc, gan_type, real_label_val, fake_label_val, loss_weight)


def relativistic_gan_loss(real_logits, fake_logits, for_discriminator: bool, gan_type: str = "vanilla",
                          real_label_val: float = 1.0, fake_label_val: float = 0.0, loss_weight: float = 1.0):
    """ESRGAN's relativistic average GAN loss as BasicSR's ESRGANModel computes it (see the module docstring).

    real_logits: D(ground truth), fake_logits: D(generator output); any shapes, float32. Returns a scalar.
    """
    check_float(real_logits, "real_logits")
    check_float(fake_logits, "fake_logits")
    check_gan_args(gan_type, {"for_discriminator": for_discriminator},
                   {"real_label_val": real_label_val, "fake_label_val": fake_label_val, "loss_weight": loss_weight})
    kw = dict(gan_type=gan_type, real_label_val=real_label_val, fake_label_val=fake_label_val, loss_weight=loss_weight)
    sg = jax.lax.stop_gradient
    if for_discriminator:
        l_real = _gan(real_logits - sg(jnp.mean(fake_logits)), True, True, **kw) * 0.5
        l_fake = _gan(fake_logits - sg(jnp.mean(real_logits)), False, True, **kw) * 0.5
        return l_real + l_fake
    real_logits = sg(real_logits)  # BasicSR: real_d_pred = net_d(gt).detach()
    l_real = _gan(real_logits - jnp.mean(fake_logits), False, False, **kw)
    l_fake = _gan(fake_logits - jnp.mean(real_logits), True, False, **kw)
    return (l_real + l_fake) / 2
