"""FSRCNN(56, 12, 4) x3 (Dong et al. 2016; yjn870 FSRCNN-pytorch): Y channel, LR 10x10 -> HR 30x30 patches,
MSE, Adam 1e-3."""
from train.configs._sr import sr_config


def get_config(variant: str = ""):
    c = sr_config("fsrcnn_x3", "fsrcnn", {"scale_factor": 3, "num_channels": 1, "d": 56, "s": 12, "m": 4}, 3, "y",
                  30, 16, 1e-3, 400_000, variant)
    if variant == "runlocal":
        c.model.kwargs.update(d=8, s=4, m=1)
    return c
