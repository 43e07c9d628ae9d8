"""PyTorch twins of jrestore.models, registered under the same names with the same constructor arguments."""
from __future__ import annotations

import torch

from torch_ref.models._registry import MODELS

# Explicit imports register each family.
from torch_ref.models import classical_cs, ista_net  # noqa: F401  compressed sensing
from torch_ref.models import attention_unet, dncnn, ffdnet, multiscale_enhancer  # noqa: F401  denoising
from torch_ref.models import basicsr_sr, espcn, srcnn, srresnet, wasa  # noqa: F401  super-resolution
from torch_ref.models import vgg  # noqa: F401  perceptual-loss features

__all__ = ["get", "names", "arguments"]


def names() -> list[str]:
    return MODELS.names()


def arguments(name: str) -> list[str]:
    return MODELS.arguments(name)


def get(name: str, **kwargs) -> torch.nn.Module:
    """Build model `name`; unknown names or arguments raise ValueError listing the valid ones."""
    return MODELS.get(name, **kwargs)
