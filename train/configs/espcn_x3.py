"""ESPCN x3 (Shi et al. 2016): Y channel, 17x17 LR patches (51x51 HR), MSE, Adam 1e-3."""
from train.configs._sr import sr_config


def get_config(variant: str = ""):
    return sr_config("espcn_x3", "espcn", {"scale_factor": 3, "num_channels": 1}, 3, "y", 51, 16, 1e-3, 400_000,
                     variant)
