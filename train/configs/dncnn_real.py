"""Colour DnCNN on REAL noise (a paired source, BasicSR's PairedImageDataset habit): data.path = the clean
(ground-truth) images, data.lq_path = the noisy captures of the same scenes, matched by name (data.filename_tmpl
when the noisy names differ, e.g. "{}_NOISY"); SIDD / DND / PolyU-style crops, or 16-bit scientific captures.
The network is KAIR's colour blind DnCNN (CDnCNN-B: 20 layers, 64 channels, BN, residual), trained as
train_dncnn.json does (Adam 1e-4, halved at 200k, 400k, 600k, 800k; batch 128 of 40x40 patches); the noise
is the data's own, so task.sigma has no effect on the training pairs.
Validation needs a held-out pair of folders of the same kind (the published protocols add synthetic noise):

    jrestore train --config dncnn_real --set data.path=GT_DIR --set data.lq_path=NOISY_DIR \
        --set val.source=folder --set val.path=VAL_GT_DIR --set val.lq_path=VAL_NOISY_DIR
"""
from train.configs.common import base_config


def get_config(variant: str = ""):
    c = base_config()
    c.recipe = "dncnn_real"
    c.model.name = "dncnn"
    c.model.kwargs = {"in_nc": 3, "out_nc": 3, "nc": 64, "nb": 20, "act_mode": "BR"}
    c.task.update(kind="denoise", channels="rgb")
    c.data.update(source="paired", path="", lq_path="", patch_size=40, patches_per_image=128)
    c.val.update(source="", path="")
    c.loss.name = "mse"
    c.optim.update(name="adam", lr=1e-4)
    c.schedule.update(name="multistep", milestones=[200_000, 400_000, 600_000, 800_000], gamma=0.5)
    c.train.update(steps=1_000_000, global_batch_size=128, val_every=5000, ckpt_every=5000)
    if variant == "runlocal":  # still needs data.path and data.lq_path: there is no offline real-noise set
        c.model.kwargs.update(nc=8, nb=3)
        c.data.update(patch_size=16, patches_per_image=2)
        c.train.update(steps=3, global_batch_size=4, log_every=1, val_every=3, ckpt_every=3)
    return c
