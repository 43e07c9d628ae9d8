"""ISTA-Net / ISTA-Net+ training loss (block compressed sensing).

Reference: jianzhangcs/ISTA-Net-PyTorch (commit 329249c) `Train_CS_ISTA_Net_plus.py` (and
`Train_CS_ISTA_Net.py`, the same loss):

    loss_discrepancy = mean((x_output - batch_x)^2)
    loss_constraint  = mean(sym_1^2) + mean(sym_2^2) + ... + mean(sym_K^2)     (one term per phase)
    loss_all         = loss_discrepancy + gamma * loss_constraint,  gamma = 0.01

sym_k is phase k's symmetry residual F~(F(x)) - x (ISTA-Net: [N, 33, 33, 1]; ISTA-Net+: [N, 33, 33, 32] on
conv_D's features), the second output of jrestore.models.ista_net. The official script keeps x as rows
[N, 1089]; a mean does not depend on the layout, so [N, 33, 33, 1] gives the same number. The official
gamma is a shape-(1,) tensor, which makes loss_all shape (1,); here it is a 0-d scalar.

Shapes: x_rec, x_target: the same shape, e.g. [N, 33, 33, 1] float32; symlosses: a non-empty sequence of
arrays (one per phase, any shapes). Pure functions: jit-able and differentiable.
"""
from __future__ import annotations

import jax.numpy as jnp

from jrestore._validate import check_float
from jrestore.core.losses.cs import (  # noqa: F401  framework-neutral part, shared with torch_ref
    check_ista_net_loss_args, check_symlosses)

__all__ = ["ista_net_constraint_loss", "ista_net_loss", "check_symlosses", "check_ista_net_loss_args"]


def ista_net_constraint_loss(symlosses):
    """sum over phases of mean(sym^2) (the official loss_constraint). symlosses: sequence of arrays -> scalar."""
    check_symlosses(symlosses)
    loss = jnp.mean(jnp.square(symlosses[0]))
    for s in symlosses[1:]:  # accumulated in the official order
        loss = loss + jnp.mean(jnp.square(s))
    return loss


def ista_net_loss(x_rec, x_target, symlosses, gamma: float = 0.01):
    """mean((x_rec - x_target)^2) + gamma * ista_net_constraint_loss(symlosses) (the official loss_all).

    x_rec, x_target: [N, 33, 33, 1] float32 (any equal shapes); symlosses: one array per phase. -> scalar.
    """
    check_ista_net_loss_args(x_rec, x_target, symlosses, gamma)
    return jnp.mean(jnp.square(x_rec - x_target)) + gamma * ista_net_constraint_loss(symlosses)
