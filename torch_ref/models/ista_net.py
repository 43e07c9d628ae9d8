"""ISTA-Net and ISTA-Net+ in PyTorch (NCHW): the twin of jrestore.models.ista_net.

Paper: J. Zhang and B. Ghanem, "ISTA-Net: Interpretable Optimization-Inspired Deep Network for Image
Compressive Sensing", CVPR 2018. The phase maths is that of jianzhangcs/ISTA-Net-PyTorch (commit 329249c),
`TEST_CS_ISTA_Net_plus.py` and `TEST_CS_ISTA_Net.py`; parameter names equal the official keys after
stripping `module.`, so `model.load_state_dict({k[7:]: v ...})` loads the official checkpoints.

Parity notes: see jrestore.models.ista_net (the sampling-matrix defaults, M per ratio and input checks
are imported from there so that they are defined once). Phi and Qinit are non-persistent buffers unless
`learn_phi=True`, where Phi is an nn.Parameter row-normalised in forward and Qinit is its transpose.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from jrestore._validate import check_positive
from jrestore.core.models.ista_net import check_blocks, check_measurements, check_phases, sampling_matrices
from torch_ref.models._registry import register
from torch_ref.ops.shrinkage import soft_threshold

__all__ = ["ISTANet", "ISTANetPlus", "BasicBlock", "BasicBlockPlus"]


def _kernel(out_ch: int, in_ch: int) -> nn.Parameter:
    return nn.Parameter(nn.init.xavier_normal_(torch.empty(out_ch, in_ch, 3, 3)))


def _gradient_step(x, lambda_step, phitphi, phitb):
    return x - lambda_step * torch.mm(x, phitphi) + lambda_step * phitb


class BasicBlock(nn.Module):
    """One ISTA-Net phase: (x [N, n], PhiTPhi, PhiTb [N, n]) -> (x [N, n], symloss [N, 1, bs, bs])."""

    def __init__(self, block_size: int = 33):
        super().__init__()
        self.block_size = block_size
        self.lambda_step = nn.Parameter(torch.tensor([0.5]))
        self.soft_thr = nn.Parameter(torch.tensor([0.01]))
        self.conv1_forward = _kernel(32, 1)
        self.conv2_forward = _kernel(32, 32)
        self.conv1_backward = _kernel(32, 32)
        self.conv2_backward = _kernel(1, 32)

    def _backward(self, x):
        return F.conv2d(F.relu(F.conv2d(x, self.conv1_backward, padding=1)), self.conv2_backward, padding=1)

    def forward(self, x, phitphi, phitb):
        bs = self.block_size
        x = _gradient_step(x, self.lambda_step, phitphi, phitb)
        x_input = x.view(-1, 1, bs, bs)
        x_forward = F.conv2d(F.relu(F.conv2d(x_input, self.conv1_forward, padding=1)), self.conv2_forward, padding=1)
        x_backward = self._backward(soft_threshold(x_forward, self.soft_thr))
        symloss = self._backward(x_forward) - x_input
        return x_backward.reshape(-1, bs * bs), symloss


class BasicBlockPlus(nn.Module):
    """One ISTA-Net+ phase: (x [N, n], PhiTPhi, PhiTb [N, n]) -> (x [N, n], symloss [N, 32, bs, bs])."""

    def __init__(self, block_size: int = 33):
        super().__init__()
        self.block_size = block_size
        self.lambda_step = nn.Parameter(torch.tensor([0.5]))
        self.soft_thr = nn.Parameter(torch.tensor([0.01]))
        self.conv_D = _kernel(32, 1)
        self.conv1_forward = _kernel(32, 32)
        self.conv2_forward = _kernel(32, 32)
        self.conv1_backward = _kernel(32, 32)
        self.conv2_backward = _kernel(32, 32)
        self.conv_G = _kernel(1, 32)

    def _backward(self, x):
        return F.conv2d(F.relu(F.conv2d(x, self.conv1_backward, padding=1)), self.conv2_backward, padding=1)

    def forward(self, x, phitphi, phitb):
        bs = self.block_size
        x = _gradient_step(x, self.lambda_step, phitphi, phitb)
        x_input = x.view(-1, 1, bs, bs)
        x_D = F.conv2d(x_input, self.conv_D, padding=1)
        x_forward = F.conv2d(F.relu(F.conv2d(x_D, self.conv1_forward, padding=1)), self.conv2_forward, padding=1)
        x_backward = self._backward(soft_threshold(x_forward, self.soft_thr))
        x_pred = x_input + F.conv2d(x_backward, self.conv_G, padding=1)
        symloss = self._backward(x_forward) - x_D
        return x_pred.reshape(-1, bs * bs), symloss


class _UnfoldedCS(nn.Module):
    _block_cls = BasicBlock

    def __init__(self, num_phases: int = 9, cs_ratio=25, block_size: int = 33, phi=None, qinit=None,
                 learn_phi: bool = False):
        super().__init__()
        check_positive(num_phases, "num_phases")
        check_positive(block_size, "block_size")
        if learn_phi and qinit is not None:
            raise ValueError("qinit: expected None with learn_phi=True (Qinit is then the normalised Phi^T), got an array")
        phi_np, qinit_np = sampling_matrices(cs_ratio, block_size, phi, qinit)
        self.num_phases, self.cs_ratio, self.block_size, self.learn_phi = num_phases, cs_ratio, block_size, learn_phi
        self.num_measurements = phi_np.shape[0]
        if learn_phi:
            self.phi = nn.Parameter(torch.from_numpy(phi_np))
            self.qinit = None
        else:
            self.register_buffer("phi", torch.from_numpy(phi_np), persistent=False)
            self.register_buffer("qinit", torch.from_numpy(qinit_np), persistent=False)
        self.fcs = nn.ModuleList([self._block_cls(block_size) for _ in range(num_phases)])

    def sampling(self):
        """(Phi [M, n], Qinit [n, M]) as used in the forward pass."""
        if not self.learn_phi:
            return self.phi, self.qinit
        phi = F.normalize(self.phi, dim=1)
        return phi, phi.t()

    def measure(self, x_blocks: torch.Tensor) -> torch.Tensor:
        """x_blocks [N, 1, bs, bs] -> y = x Phi^T [N, M]."""
        check_blocks(x_blocks, self.block_size, layout="NCHW")
        phi, _ = self.sampling()
        return torch.mm(x_blocks.reshape(x_blocks.shape[0], -1), phi.t())

    def reconstruct(self, y: torch.Tensor, phases: int | None = None):
        """y [N, M] -> (x_rec [N, 1, bs, bs], symloss: tuple of one [N, C, bs, bs] per phase run).

        phases: run only the first `phases` phases (progressive training, seed 000); None: all of them."""
        check_measurements(y, self.num_measurements)
        phases = check_phases(phases, self.num_phases)
        phi, qinit = self.sampling()
        phitphi = torch.mm(phi.t(), phi)
        phitb = torch.mm(y, phi)
        x = torch.mm(y, qinit.t())
        syms = []
        for block in list(self.fcs)[:phases]:
            x, sym = block(x, phitphi, phitb)
            syms.append(sym)
        return x.view(-1, 1, self.block_size, self.block_size), tuple(syms)

    def forward(self, x_blocks: torch.Tensor, phases: int | None = None):
        """x_blocks [N, 1, bs, bs] float32 in [0, 1] -> (x_rec [N, 1, bs, bs], symloss tuple per phase run);
        phases as in `reconstruct`."""
        return self.reconstruct(self.measure(x_blocks), phases)


@register("ista_net")
class ISTANet(_UnfoldedCS):
    """ISTA-Net (symloss per phase [N, 1, bs, bs])."""
    _block_cls = BasicBlock


@register("ista_net_plus")
class ISTANetPlus(_UnfoldedCS):
    """ISTA-Net+ (symloss per phase [N, 32, bs, bs])."""
    _block_cls = BasicBlockPlus
