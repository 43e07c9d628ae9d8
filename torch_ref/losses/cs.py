"""Twin of jrestore.losses.cs: the ISTA-Net / ISTA-Net+ training loss of the official Train_CS_ISTA_Net_plus.py.

Checks come from jrestore.losses.cs; see it for the formula. Layout-free (means only).
"""
from __future__ import annotations

import torch

from jrestore.core.losses.cs import check_ista_net_loss_args, check_symlosses

__all__ = ["ista_net_constraint_loss", "ista_net_loss"]


def ista_net_constraint_loss(symlosses):
    """sum over phases of mean(sym^2) (the official loss_constraint). symlosses: sequence of tensors -> 0-d."""
    check_symlosses(symlosses)
    loss = torch.mean(torch.pow(symlosses[0], 2))
    for s in symlosses[1:]:
        loss = loss + torch.mean(torch.pow(s, 2))
    return loss


def ista_net_loss(x_rec, x_target, symlosses, gamma: float = 0.01):
    """mean((x_rec - x_target)^2) + gamma * constraint (the official loss_all, as a 0-d tensor)."""
    check_ista_net_loss_args(x_rec, x_target, symlosses, gamma)
    return torch.mean(torch.pow(x_rec - x_target, 2)) + gamma * ista_net_constraint_loss(symlosses)
