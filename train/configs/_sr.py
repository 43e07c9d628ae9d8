"""Shared shape of the SR recipes: DIV2K-style HR folder (offline default: scikit-image photos), LR made on
the fly by MATLAB bicubic, Set5 validation under the SelfExSR protocol."""
from train.configs.common import base_config


def sr_config(recipe: str, model: str, kwargs: dict, scale: int, channels: str, patch: int, batch: int, lr: float,
              steps: int, variant: str):
    c = base_config()
    c.recipe = recipe
    c.model.name = model
    c.model.kwargs = kwargs
    c.task.update(kind="sr", scale=scale, channels=channels, lr_resize="matlab")
    # data.path: the HR training folder (e.g. DIV2K_train_HR), or data.source="tfds" with a prepared div2k
    c.data.update(source="folder", path="", patch_size=patch, patches_per_image=16)
    c.val.update(source="folder", path="set5", protocol="selfexsr")
    c.loss.name = "mse"
    c.optim.update(name="adam", lr=lr)
    c.train.update(steps=steps, global_batch_size=batch, val_every=5000, ckpt_every=5000)
    if variant == "runlocal":
        c.data.update(source="", path="", patches_per_image=2)  # "": skimage photos unless data.path etc. is set
        c.val.limit = 2
        c.train.update(steps=4, global_batch_size=4, log_every=2, val_every=4, ckpt_every=4)
    return c
