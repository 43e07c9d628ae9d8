"""ISTA-Net+ at CS ratio 25 %, trained phase-wise as seed 000 describes ("渐进式训练策略": first a 3-phase
network, then the first 3 phases frozen while the next ones are added and trained, then the whole network
fine-tuned end to end). Everything else is `ista_net_plus_r25` (official Phi / Qinit, MSE + 0.01 x the
constraint loss, Adam 1e-4, batch 64, Set11 validation of the whole 9-phase network).

Stages (train/progressive.py): 3, 6, 9 phases with the earlier phases frozen, then all 9 fine-tuned; 70,000
updates each (the seed gives no counts; together the 280,000 updates of `ista_net_plus_r25`).
`--set progressive.earlier=finetune` keeps training the earlier phases instead of freezing them.
"""
from train.configs.ista_net_plus_r25 import get_config as plus_config


def get_config(variant: str = ""):
    c = plus_config(variant)
    c.recipe = "ista_net_plus_progressive_r25"
    c.progressive.update(stages=(3, 6, 9, 9), steps=(70_000,) * 4, earlier="freeze")
    if variant == "runlocal":
        c.model.kwargs.update(num_phases=3)
        c.progressive.update(stages=(1, 2, 3, 3), steps=(2, 2, 2, 2))
        c.train.update(steps=8, log_every=2, val_every=8, ckpt_every=8)
    return c
