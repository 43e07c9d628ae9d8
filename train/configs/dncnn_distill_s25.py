"""Knowledge distillation for DnCNN at sigma 25 (seed 004 §3.2: a large teacher guides a small student, T = 3;
train/distill.py): the official DnCNN-S sigma 25 (17 layers, KAIR's BN-folded weights, reference data) is the
frozen teacher; the student is an 8-layer DnCNN with 64 channels and BatchNorm (223,553 parameters, 40 % of
the teacher's 557,057), trained on Train400 patches with sigma 25 noise and validated on Set12 (kair_dncnn):

    loss = MSE(student, clean) + 1.0 x MSE(student, teacher)                      (output distillation)
         + 0.001 x CWD_T=3(student's last body ReLU "model.19", teacher's "model.31")   (feature distillation)

CWD (channel-wise distillation, Shu et al. 2021) is where the seed's temperature acts: each of the 64 feature
maps becomes a distribution over its pixels, softmax(map / 3), and the student's is pulled towards the
teacher's by KL x T^2. The weights (1.0, 0.001) were not tuned: at initialisation the CWD is 0.19, so the
feature term starts near 2e-4, beside MSE terms near 2e-3 once the student denoises. Adam 1e-3 (the rate of cszn/DnCNN's
own PyTorch training code), batch 64, halved at 100k and 150k of 200k updates: a small network's shorter run.
The no-distillation baseline at equal steps is `dncnn_small_s25` (the same student, data order and schedule,
distill.beta = distill.feature_weight = 0: no teacher is loaded). Both need the reference data
($JRESTORE_DATA) or --set data.path=... / val.path=... / distill.teacher.weights=...; `:runlocal` is a smoke run
of 6 steps on small Train400 patches with a 3-layer student (taps need equal channels: it keeps 64).
"""
from train.configs.common import base_config
from train.distill import distill_section


def get_config(variant: str = ""):
    c = base_config()
    c.recipe = "dncnn_distill_s25"
    c.model.name = "dncnn"
    c.model.kwargs = {"in_nc": 1, "out_nc": 1, "nc": 64, "nb": 8, "act_mode": "BR"}
    c.task.update(kind="denoise", sigma=25.0)
    c.data.update(source="folder", path="train400", patch_size=40, patches_per_image=128)
    c.val.update(source="folder", path="set12", protocol="kair_dncnn")
    c.loss.name = "mse"
    c.optim.update(name="adam", lr=1e-3)
    c.schedule.update(name="multistep", milestones=[100_000, 150_000], gamma=0.5)
    c.train.update(steps=200_000, global_batch_size=64, val_every=5000, ckpt_every=5000)
    c.distill = distill_section(teacher={"name": "dncnn", "weights": "dncnn_25", "kwargs": {}}, alpha=1.0, beta=1.0,
                                output_loss="mse", feature_weight=1e-3, feature_loss="cwd", temperature=3.0,
                                taps=("model.19=model.31",))
    if variant == "runlocal":
        c.model.kwargs.update(nb=3)  # head, one body layer (model.2-4), tail: model.4 is its ReLU
        c.distill.taps = ("model.4=model.31",)
        c.data.patches_per_image = 1
        c.data.patch_size = 24
        c.val.limit = 1
        c.schedule.milestones = [3, 5]
        c.train.update(steps=6, global_batch_size=4, log_every=2, val_every=6, ckpt_every=6)
    return c
