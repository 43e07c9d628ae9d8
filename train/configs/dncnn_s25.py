"""DnCNN-S at sigma 25 (Zhang et al., TIP 2017): Train400, 40x40 patches, batch 128, sigma 25 Gaussian
noise, the paper's MSE (on the output x - f(x), which equals its residual loss up to the factor 1/2),
Adam 1e-4 halved at KAIR's milestones."""
from train.configs.common import base_config


def get_config(variant: str = ""):
    c = base_config()
    c.recipe = "dncnn_s25"
    c.model.name = "dncnn"
    c.model.kwargs = {"in_nc": 1, "out_nc": 1, "nc": 64, "nb": 17, "act_mode": "BR"}
    c.task.update(kind="denoise", sigma=25.0)
    c.data.update(source="folder", path="train400", patch_size=40, patches_per_image=128)
    c.val.update(source="folder", path="set12", protocol="kair_dncnn")
    c.loss.name = "mse"
    c.optim.update(name="adam", lr=1e-4)
    c.schedule.update(name="multistep", milestones=[200_000, 400_000, 600_000, 800_000], gamma=0.5)
    c.train.update(steps=1_000_000, global_batch_size=128, val_every=5000, ckpt_every=5000)
    if variant == "runlocal":
        c.model.kwargs.update(nc=16, nb=5)
        c.data.patches_per_image = 4
        c.val.limit = 2
        c.train.update(steps=40, global_batch_size=16, log_every=5, val_every=20, ckpt_every=20)
    return c
