"""ISTA-Net+ at CS ratio 25 % with the sampling matrix learned end to end (seed 000, "自适应采样矩阵":
`LearnableSampling`, an nn.Parameter Phi row-normalised in every forward pass). Everything else is
`ista_net_plus_r25`: MSE + 0.01 x the constraint loss, Adam 1e-4, batch 64, 9 phases, Set11 validation.

Phi starts from the official 25 % matrix (`task.cs_matrices`); `--set task.cs_matrices=''` starts it from the
model's seeded Gaussian matrix with orthonormal rows instead (the seed's `torch.randn`, row-normalised).
With a learned Phi, Qinit is the normalised Phi^T (jrestore.models.ista_net, parity notes), not the
official least-squares Qinit, so the two recipes differ at step 0 by the initial estimate only.
"""
from train.configs.ista_net_plus_r25 import get_config as plus_config


def get_config(variant: str = ""):
    c = plus_config(variant)
    c.recipe = "ista_net_plus_learned_phi_r25"
    c.model.kwargs.update(learn_phi=True)
    return c
