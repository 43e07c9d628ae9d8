"""ISTA-Net+ at CS ratio 25 % (Zhang & Ghanem, CVPR 2018; ISTA-Net-PyTorch Train_CS_ISTA_Net_plus.py):
33x33 blocks, the official Phi and Qinit when `task.cs_matrices` points at them (else the model's seeded
Gaussian Phi), loss = MSE + 0.01 x the constraint (symmetry) loss, Adam 1e-4, batch 64, 9 phases.
The authors train on 88,912 blocks of the 91-image set; Train400 stands in here (any grey folder works).

Seed 000's hybrid loss (pixel MSE + 0.1 x L1 between VGG16 `features[:16]` maps, i.e. up to relu3_3, of the
raw [0, 1] images, no ImageNet normalisation) is set up here and off (weight 0); select it with
`--set loss.perceptual.weight=0.1 --set loss.perceptual.vgg_weights=vgg16-397923af.pth` (torchvision's
ImageNet VGG16 state dict). The grey blocks are repeated to 3 channels for VGG (train/objective.py).
`progressive.*` (train/progressive.py) is off here; `ista_net_plus_progressive_r25` sets it."""
from ml_collections import ConfigDict

from train.configs.common import base_config


def get_config(variant: str = ""):
    c = base_config()
    c.recipe = "ista_net_plus_r25"
    c.model.name = "ista_net_plus"
    c.model.kwargs = {"num_phases": 9, "cs_ratio": 25}
    c.task.update(kind="cs", block=33, cs_matrices="set11_matrices")
    c.data.update(source="folder", path="train400", patch_size=33, patches_per_image=32)
    c.val.update(source="folder", path="set11", protocol="ista_net")
    c.loss.name = "ista_net"
    c.loss.kwargs = {"gamma": 0.01}
    c.loss.perceptual.update(weight=0.0, vgg_type="vgg16", criterion="l1", use_input_norm=False)
    c.loss.perceptual.layer_weights = ConfigDict({"relu3_3": 1.0})  # replaced, not merged into conv5_4
    c.progressive = ConfigDict({"stages": (), "steps": (), "earlier": "freeze"})
    c.optim.update(name="adam", lr=1e-4)
    c.train.update(steps=280_000, global_batch_size=64, val_every=5000, ckpt_every=5000)
    if variant == "runlocal":
        c.model.kwargs.update(num_phases=2)
        c.task.cs_matrices = ""
        c.data.update(source="", path="")  # "": skimage photos unless data.path etc. is set
        c.val.update(source="", path="")
        c.loss.perceptual.num_feat = 4  # a tiny seeded VGG, so that the hybrid loss runs offline
        c.train.update(steps=6, global_batch_size=8, log_every=2, val_every=6, ckpt_every=6)
    return c
