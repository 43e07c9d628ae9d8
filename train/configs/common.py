"""The fields every recipe has, with their defaults; recipes override what they need.

Every field has a type that `--set` overrides parse to (ml_collections' typed overrides): lists are tuples,
and fields unset by default are typed placeholders (`data.names`, `data.num_epochs`).
"""
from __future__ import annotations

from ml_collections import ConfigDict, config_dict


def base_config() -> ConfigDict:
    c = ConfigDict()
    c.recipe = ""
    c.model = ConfigDict({"name": "", "kwargs": ConfigDict()})
    # the initial weights: `weights` (a state-dict file), else torch_ref's init under `seed`, converted
    # (docs/conventions.md §8, §14)
    c.init = ConfigDict({"seed": 0, "weights": ""})
    c.task = ConfigDict({"kind": "denoise", "sigma": 25.0, "scale": 1, "block": 33, "channels": "y",
                         "lr_resize": "matlab", "cs_matrices": ""})
    c.data = ConfigDict({"source": "skimage", "path": "", "name": "", "split": "train", "data_dir": "",
                         "patch_size": 40, "patches_per_image": 1, "augment": True, "worker_count": 0,
                         "names": config_dict.placeholder(tuple), "num_epochs": config_dict.placeholder(int)})
    c.val = ConfigDict({"source": "", "path": "", "protocol": "", "limit": 0})
    # source "": chosen from what is set (lq_path: paired, path: folder, name: tfds, else skimage; see
    # train.data.sources); lq_path / filename_tmpl: the degraded images of a paired folder; lq_key: of a tfds one
    c.data.update(source="", lq_path="", filename_tmpl="{}", lq_key="")
    c.val.update(lq_path="", filename_tmpl="{}")  # a paired validation set (real degradations)
    c.loss = ConfigDict({"name": "mse", "kwargs": ConfigDict(), "pixel_weight": 1.0})
    # + weight x VGG perceptual loss (BasicSR PerceptualLoss); vgg_weights: a torchvision VGG state-dict file
    c.loss.perceptual = ConfigDict({"weight": 0.0, "layer_weights": ConfigDict({"conv5_4": 1.0}), "vgg_type": "vgg19",
                                    "criterion": "l1", "vgg_weights": "", "num_feat": 64,
                                    # True: ImageNet mean / std before VGG (BasicSR's default); False: raw [0, 1]
                                    "use_input_norm": True})
    c.optim = ConfigDict({"name": "adam", "lr": 1e-4, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
                          "clip_grad_norm": 0.0, "ema_decay": 0.0})
    # adversarial training (train/gan.py): on when weight > 0; the discriminator has its own optimiser
    c.gan = ConfigDict({"weight": 0.0, "gan_type": "vanilla",
                        "discriminator": ConfigDict({"name": "srgan_discriminator", "kwargs": ConfigDict()}),
                        "optim": ConfigDict({"name": "adam", "lr": 1e-4, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
                                             "weight_decay": 0.0, "clip_grad_norm": 0.0})})
    c.schedule = ConfigDict({"name": "constant", "step_size": 0, "gamma": 0.5, "milestones": (), "warmup_steps": 0,
                             "min_lr": 0.0})
    # compute_dtype: the forward passes' dtype (train/objective.py); weights, gradients and losses stay float32
    c.train = ConfigDict({"steps": 1000, "global_batch_size": 16, "seed": 0, "log_every": 10, "val_every": 500,
                          "ckpt_every": 500, "keep": 3, "compute_dtype": "float32",
                          "devices": 0})  # devices 0: every local device
    return c
