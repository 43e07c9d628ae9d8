"""SRResNet x4 (Ledig et al. 2017): RGB, 96x96 HR patches, MSE, Adam 1e-4, batch 16, 10^6 updates."""
from train.configs._sr import sr_config


def get_config(variant: str = ""):
    c = sr_config("srresnet_x4", "srresnet", {"scale": 4, "num_channels": 3, "num_feat": 64, "num_block": 16}, 4,
                  "rgb", 96, 16, 1e-4, 1_000_000, variant)
    if variant == "runlocal":
        c.model.kwargs.update(num_feat=8, num_block=1)
        c.data.patch_size = 32
    return c
