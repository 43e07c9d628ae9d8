"""Constructor arguments implied by a PyTorch-layout state dict, so users need not pass them by hand.

    infer_kwargs("dncnn", torch.load("dncnn_25.pth", weights_only=True))
    -> {'in_nc': 1, 'out_nc': 1, 'nc': 64, 'nb': 17, 'act_mode': 'R', 'variant': 'plain'}

Each model's rule is its spec's `weights_rule` (jrestore/core/models/<family>.py). Only what the weights
determine is returned; the rest keeps the constructor defaults (or --set):
- activations without parameters (DnCNN's 'R' vs 'L') read as ReLU; BN is seen from `running_mean` keys;
- FSRCNN's scale factor is not in its weights (the deconvolution's stride), nor SRCNN's padding, the
  ISTA-Nets' Phi / Qinit (they come from .mat files; only a learned Phi, `learn_phi=True`, is a weight),
  the U-Net's `residual`, VGG's normalisation and taps.
Unknown names, and state dicts that do not look like the named model, give {} (loading then reports the
first mismatching key). Keys may carry nn.DataParallel's 'module.' prefix.
"""
from __future__ import annotations

from typing import Mapping

from jrestore.core.spec import all_specs

__all__ = ["infer_kwargs", "inferable"]


def inferable() -> list[str]:
    """Models whose spec has a rule reading constructor arguments from weights."""
    return [n for n, s in all_specs().items() if s.weights_rule is not None]


def infer_kwargs(name: str, state_dict: Mapping) -> dict:
    """Constructor arguments of model `name` that `state_dict` (torch layout) determines.

    state_dict: {key: tensor or array}, PyTorch layout (as `jrestore.convert.torch_state_dict` gives).
    Returns {} for names without a rule and for state dicts that lack the model's keys.
    """
    spec = all_specs().get(name)
    return {} if spec is None else spec.infer_kwargs(state_dict)
