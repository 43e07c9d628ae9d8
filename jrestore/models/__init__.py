"""Model zoo: one file per paper family; every model is registered under the name torch_ref uses.

    jrestore.models.names()                    -> ['dncnn', 'espcn', ...]
    jrestore.models.get('dncnn', num_feat=32)  -> an NNX module (rngs defaults to nnx.Rngs(0))
"""
from __future__ import annotations

from flax import nnx

from jrestore.models._registry import MODELS

# Explicit imports register each family (no directory scanning).
from jrestore.models import classical_cs, ista_net  # noqa: F401  compressed sensing
from jrestore.models import attention_unet, dncnn, ffdnet, multiscale_enhancer  # noqa: F401  denoising
from jrestore.models import basicsr_sr, espcn, srcnn, srresnet, wasa  # noqa: F401  super-resolution
from jrestore.models import vgg  # noqa: F401  perceptual-loss features

__all__ = ["get", "names", "arguments"]


def names() -> list[str]:
    return MODELS.names()


def arguments(name: str) -> list[str]:
    return MODELS.arguments(name)


def get(name: str, *, rngs: nnx.Rngs | None = None, **kwargs) -> nnx.Module:
    """Build model `name`; unknown names or arguments raise ValueError listing the valid ones."""
    return MODELS.get(name, rngs=rngs if rngs is not None else nnx.Rngs(0), **kwargs)
