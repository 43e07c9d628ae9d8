"""Classical block compressed-sensing solvers (ISTA, ADMM) in PyTorch: the twin of jrestore.models.classical_cs.

Same formulas and the same float32 constants (transform matrices, Phi, (Phi^T Phi + rho I)^-1, built once
in NumPy float64 by jrestore.models.classical_cs); see that module for the maths and parity notes.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from jrestore._validate import check_choice, check_positive
from jrestore.core.models.classical_cs import TRANSFORMS, admm_inverse, transform_matrix
from jrestore.core.models.ista_net import check_blocks, check_measurements, sampling_matrices
from torch_ref.models._registry import register
from torch_ref.ops.shrinkage import soft_threshold

__all__ = ["ISTA", "ADMM"]


class _ClassicalCS(nn.Module):
    def __init__(self, cs_ratio, block_size: int, transform: str, num_iters: int, lam: float, phi):
        super().__init__()
        check_choice(transform, "transform", TRANSFORMS)
        check_positive(num_iters, "num_iters")
        check_positive(lam, "lam", strict=False)
        phi_np, _ = sampling_matrices(cs_ratio, block_size, phi)
        self.cs_ratio, self.block_size, self.transform = cs_ratio, block_size, transform
        self.num_iters, self.lam = int(num_iters), float(lam)
        self.num_measurements = phi_np.shape[0]
        self.register_buffer("phi", torch.from_numpy(phi_np), persistent=False)
        t = transform_matrix(transform, block_size).astype(np.float32)
        self.register_buffer("basis", torch.from_numpy(t), persistent=False)

    def measure(self, x_blocks: torch.Tensor) -> torch.Tensor:
        """x_blocks [N, 1, bs, bs] -> y = x Phi^T [N, M]."""
        check_blocks(x_blocks, self.block_size, layout="NCHW")
        return torch.mm(x_blocks.reshape(x_blocks.shape[0], -1), self.phi.t())

    def forward(self, x_blocks: torch.Tensor):
        """x_blocks [N, 1, bs, bs] float32 -> (x_rec [N, 1, bs, bs], ())."""
        return self.reconstruct(self.measure(x_blocks))

    def _out(self, x):
        return x.view(-1, 1, self.block_size, self.block_size), ()


@register("ista")
class ISTA(_ClassicalCS):
    """ISTA with an orthonormal block transform; call model(x_blocks) or model.reconstruct(y [N, M])."""

    def __init__(self, cs_ratio=25, block_size: int = 33, transform: str = "dct", num_iters: int = 100,
                 lam: float = 0.03, phi=None):
        super().__init__(cs_ratio, block_size, transform, num_iters, lam, phi)
        self.step = float(1.0 / np.linalg.norm(self.phi.numpy().astype(np.float64), 2) ** 2)

    def reconstruct(self, y: torch.Tensor):
        check_measurements(y, self.num_measurements)
        phi, t = self.phi, self.basis
        x = torch.zeros(y.shape[0], phi.shape[1], dtype=y.dtype, device=y.device)
        for _ in range(self.num_iters):
            r = x + self.step * torch.mm(y - torch.mm(x, phi.t()), phi)
            x = torch.mm(soft_threshold(torch.mm(r, t.t()), self.step * self.lam), t)
        return self._out(x)


@register("admm")
class ADMM(_ClassicalCS):
    """ADMM with an orthonormal block transform; call model(x_blocks) or model.reconstruct(y [N, M])."""

    def __init__(self, cs_ratio=25, block_size: int = 33, transform: str = "dct", num_iters: int = 50,
                 lam: float = 0.01, rho: float = 0.03, phi=None):
        super().__init__(cs_ratio, block_size, transform, num_iters, lam, phi)
        check_positive(rho, "rho")
        self.rho = float(rho)
        inv = admm_inverse(self.phi.numpy(), self.rho).astype(np.float32)
        self.register_buffer("inverse", torch.from_numpy(inv), persistent=False)

    def reconstruct(self, y: torch.Tensor):
        check_measurements(y, self.num_measurements)
        phi, t, inv, rho = self.phi, self.basis, self.inverse, self.rho
        phitb = torch.mm(y, phi)
        z = torch.zeros(y.shape[0], phi.shape[1], dtype=y.dtype, device=y.device)
        u = torch.zeros_like(z)
        for _ in range(self.num_iters - 1):
            x = torch.mm(phitb + rho * torch.mm(z - u, t), inv)
            tx = torch.mm(x, t.t())
            z = soft_threshold(tx + u, self.lam / rho)
            u = u + tx - z
        return self._out(torch.mm(phitb + rho * torch.mm(z - u, t), inv))
