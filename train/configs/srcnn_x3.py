"""SRCNN 9-5-5 x3 (Dong et al. 2016): Y channel, the network sees the bicubic-upsampled LR, 33x33 HR
patches, MSE, Adam 1e-4 (the paper used SGD with per-layer rates; yjn870's re-implementation uses Adam)."""
from train.configs._sr import sr_config


def get_config(variant: str = ""):
    c = sr_config("srcnn_x3", "srcnn", {"num_channels": 1, "variant": "955", "padding": "same"}, 3, "y", 33, 128,
                  1e-4, 400_000, variant)
    if variant == "runlocal":
        c.model.kwargs.variant = "915"
    return c
