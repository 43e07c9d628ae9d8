"""The framework-neutral part of jrestore.losses.adversarial: its argument checks, constants and NumPy helpers.

Shared by jrestore.losses.adversarial and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_choice

__all__ = ["GAN_TYPES", "check_gan_args"]


GAN_TYPES = ("vanilla", "lsgan", "wgan", "wgan_softplus", "hinge")


def check_gan_args(gan_type, flags: dict, numbers: dict) -> None:
    check_choice(gan_type, "gan_type", GAN_TYPES)
    for name, value in flags.items():
        if not isinstance(value, bool):  # a traced or array flag would silently pick one branch
            raise ValueError(f"{name}: expected True or False, got {value!r}")
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: expected a number, got {value!r}")
