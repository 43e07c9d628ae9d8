"""ISTA-Net+ at CS ratio 25 % (Zhang & Ghanem, CVPR 2018; ISTA-Net-PyTorch Train_CS_ISTA_Net_plus.py):
33x33 blocks, the official Phi and Qinit when `task.cs_matrices` points at them (else the model's seeded
Gaussian Phi), loss = MSE + 0.01 x the constraint (symmetry) loss, Adam 1e-4, batch 64, 9 phases.
The authors train on 88,912 blocks of the 91-image set; Train400 stands in here (any grey folder works)."""
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
    c.optim.update(name="adam", lr=1e-4)
    c.train.update(steps=280_000, global_batch_size=64, val_every=5000, ckpt_every=5000)
    if variant == "runlocal":
        c.model.kwargs.update(num_phases=2)
        c.task.cs_matrices = ""
        c.data.update(source="", path="")  # "": skimage photos unless data.path etc. is set
        c.val.update(source="", path="")
        c.train.update(steps=6, global_batch_size=8, log_every=2, val_every=6, ckpt_every=6)
    return c
