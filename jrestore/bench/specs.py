"""The benchmark's standard sizes, its --quick sizes, and the training config each model's step is built from.

The entries are the `bench` of each model spec (jrestore/core/models/<family>.py); as of this writing:

Standard sizes (batch of C x h x w inputs, NCHW notation; the target is h*scale x w*scale):

    name           model (arguments)                                  batch  input       target      recipe
    dncnn          DnCNN-17, 64 ch, BN (dncnn_s25)                      16  1x64x64     1x64x64     dncnn_s25
    srresnet       SRResNet x4, 16 blocks, 64 ch                        16  3x24x24     3x96x96     srresnet_x4
    ista_net_plus  ISTA-Net+ 9 phases, CS ratio 25 %, seeded Phi        64  1x33x33     1x33x33     ista_net_plus_r25
    wasa           WASA x2, 16 RWAB blocks, 64 ch                        8  3x48x48     3x96x96     - (MSE, Adam 1e-4)
    espcn          ESPCN x3, Y channel                                  16  1x32x32     1x96x96     espcn_x3
    fsrcnn         FSRCNN x3 (d=56, s=12, m=4), Y channel               16  1x32x32     1x96x96     fsrcnn_x3
    srcnn          SRCNN 9-5-5, Y channel, x3                           16  1x32x32     1x96x96     srcnn_x3
    srgan          SRResNet x4 generator + SRGAN discriminator (96)     16  3x24x24     3x96x96     srgan_x4 (below)

SRCNN maps the bicubic-upsampled image: its train step upsamples the 32x32 LR batch inside the step
(MATLAB bicubic, exactly as the trainer's objective does); its infer step takes the 1x96x96 upsampled
image, so it times the network alone. The SRGAN step is the trainer's (train/gan.py, the srgan_x4 recipe
with an MSE content loss in place of its VGG54 one, which needs ImageNet weights): one generator update
(MSE + 1e-3 x BCE-with-logits adversarial loss through the discriminator) then one discriminator update
(BCE-with-logits on real HR and on the detached fake), Adam 1e-4 for each, both networks in train mode
(BasicSR's SRGANModel order). Infer for srgan is the generator's forward.

--quick halves every spatial size (rounded to what the model needs: even sizes for WASA's DWT, LR
multiples of 4 for SRGAN so the discriminator input stays a multiple of 16) and, for ISTA-Net+, whose
33x33 block is fixed, uses a quarter of the batch (16 blocks). Other batches are unchanged.
"""
from __future__ import annotations

import dataclasses
import math

__all__ = ["BenchSpec", "SPECS", "MODES", "IMPLS", "DEFAULT_IMPLS", "QUICK_IMPLS", "JAX_IMPLS", "TORCH_IMPLS",
           "TORCH_FP32_IMPLS", "INT8_IMPLS", "COMPUTE_DTYPES", "get_specs",
           "generator_kwargs", "train_config", "make_batch", "QUICK_SCALE"]

MODES = ("train", "infer")
JAX_IMPLS = ("jax", "jax_dp")
# float32 PyTorch; torch_amp (bfloat16 autocast, CUDA only) is measured only when named (scripts/device_bench)
TORCH_FP32_IMPLS = ("torch_eager", "torch_channels_last", "torch_compile")
TORCH_IMPLS = TORCH_FP32_IMPLS + ("torch_amp",)
# int8 inference of the entries with an int8 chain (jrestore/bench/int8.py), infer mode only; added to the default
# and --quick impls (silently left out where they do not apply)
INT8_IMPLS = ("jax_int8", "torch_int8")
IMPLS = JAX_IMPLS + TORCH_IMPLS + INT8_IMPLS
DEFAULT_IMPLS = JAX_IMPLS + TORCH_FP32_IMPLS  # a plain `jrestore bench`
# --quick's default: one JAX device (on a CPU, XLA's Eigen convolutions already use every core; splitting the
# host into devices gains nothing there, see jrestore/runtime.py), the faster eager layout, torch.compile.
# This keeps a cold run (torch.compile compiles about 5 minutes of it) within 10 minutes on 2 cores.
QUICK_IMPLS = ("jax", "torch_channels_last", "torch_compile")
COMPUTE_DTYPES = ("float32", "bfloat16")  # --compute-dtype: the JAX rows' train.compute_dtype (and infer dtype)
QUICK_SCALE = 0.5  # --quick: spatial sizes x 0.5 (ISTA-Net+: batch x 0.25 instead)


@dataclasses.dataclass(frozen=True)
class BenchSpec:
    """One benchmark entry. `input_hw` is the model input's (h, w) in train mode; the target is
    (h * scale, w * scale). `infer_upsampled`: infer feeds the target-sized (pre-upsampled) image (SRCNN)."""
    name: str
    model: str
    kwargs: dict
    batch: int
    channels: int
    input_hw: tuple[int, int]
    scale: int = 1
    task: str = "sr"                # 'denoise' | 'sr' | 'cs' | 'gan'
    recipe: str | None = None       # train.configs recipe: loss, optimizer, data pipeline
    hw_multiple: int = 1            # input sizes must stay multiples of this when scaled
    infer_upsampled: bool = False

    @property
    def target_hw(self) -> tuple[int, int]:
        return self.input_hw[0] * self.scale, self.input_hw[1] * self.scale

    def infer_hw(self) -> tuple[int, int]:
        """(h, w) of the infer-mode input."""
        return self.target_hw if self.infer_upsampled else self.input_hw

    def scaled(self, factor: float) -> "BenchSpec":
        """The same entry with spatial sizes x factor (cs: its block size is fixed, so the batch x factor^2,
        the same change in pixels per step)."""
        if factor == 1:
            return self
        if self.task == "cs":
            return dataclasses.replace(self, batch=max(2, int(round(self.batch * factor ** 2 / 2)) * 2))
        m = self.hw_multiple
        hw = tuple(max(m, int(round(s * factor / m)) * m) for s in self.input_hw)
        spec = dataclasses.replace(self, input_hw=hw)
        if self.task == "gan":  # the discriminator's dense layer is built for the HR size
            spec = dataclasses.replace(spec, kwargs={**self.kwargs, "d_input_size": spec.target_hw[0]})
        return spec

    def describe(self) -> dict:
        c = self.channels
        h, w = self.input_hw
        th, tw = self.target_hw
        ih, iw = self.infer_hw()
        return {"batch": self.batch, "train_input": f"{c}x{h}x{w}", "target": f"{c}x{th}x{tw}",
                "infer_input": f"{c}x{ih}x{iw}", "kwargs": {k: v for k, v in self.kwargs.items()}}


def _derived() -> dict[str, BenchSpec]:
    """Every model spec's bench entries (jrestore/core/models/<family>.py), plugins included."""
    from jrestore.core.spec import all_specs

    out = {}
    for spec in all_specs().values():
        for e in spec.bench:
            if e.name in out:
                raise ValueError(f"bench entry {e.name!r} is declared twice (specs {out[e.name].model!r}, {spec.name!r})")
            out[e.name] = BenchSpec(e.name, spec.name, dict(e.kwargs), e.batch, e.channels, tuple(e.input_hw),
                                    scale=e.scale, task=e.task or spec.kind, recipe=e.recipe,
                                    hw_multiple=e.hw_multiple,
                                    infer_upsampled=spec.input_transform == "bicubic_upsample")
    return out


def __getattr__(attr: str):
    if attr == "SPECS":  # computed when read, so plugins registered later are included
        return _derived()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def get_specs(names=None, quick: bool = False, size_scale: float = 1.0) -> list[BenchSpec]:
    """The entries named (all by default), at the standard sizes x size_scale (x QUICK_SCALE with quick).

    An unknown name raises one ValueError listing the valid ones.
    """
    specs = _derived()
    names = list(names) if names else list(specs)
    bad = [n for n in names if n not in specs]
    if bad:
        raise ValueError(f"--model: unknown {', '.join(map(repr, bad))}; expected some of {list(specs)}")
    if not (isinstance(size_scale, (int, float)) and math.isfinite(size_scale) and 0 < size_scale <= 4):
        raise ValueError(f"--size-scale: expected a number in (0, 4], got {size_scale!r}")
    factor = size_scale * (QUICK_SCALE if quick else 1.0)
    return [specs[n].scaled(factor) for n in dict.fromkeys(names)]


def generator_kwargs(spec: BenchSpec) -> dict:
    """The model's constructor arguments (srgan: the generator's, without the discriminator's d_*)."""
    return {k: v for k, v in spec.kwargs.items() if not k.startswith("d_")}


def train_config(spec: BenchSpec, devices: int = 0, compute_dtype: str = "float32"):
    """The trainer config (ml_collections.ConfigDict) whose step the benchmark times for `spec`.

    From the recipe when there is one (its loss, optimizer, schedule), with the bench's model arguments,
    batch size and patch size; `task.cs_matrices` cleared (the seeded Gaussian Phi: same cost, no reference
    data needed), no validation, no EMA. Without a recipe: MSE and Adam 1e-4 (the recipes' defaults).
    srgan: MSE content loss instead of VGG54 (no ImageNet weights needed), the discriminator as in the spec.
    devices: train.devices (0: every device). compute_dtype: train.compute_dtype (float32 | bfloat16: the
    forward passes in bfloat16, weights, gradients and losses float32; train/objective.py).
    """
    from train.config import load_config
    from train.configs.common import base_config

    if spec.recipe:
        cfg = load_config(spec.recipe)
    else:
        cfg = base_config()
        cfg.recipe = f"bench_{spec.name}"
        cfg.model.name = spec.model
        cfg.task.update(kind=spec.task, scale=spec.scale, channels="rgb" if spec.channels == 3 else "y")
        cfg.data.update(source="skimage", path="")
    cfg.model.kwargs = generator_kwargs(spec)
    if spec.task == "gan":
        cfg.loss.update(name="mse", pixel_weight=1.0)
        cfg.loss.perceptual.weight = 0.0
        cfg.gan.discriminator.kwargs = {"num_channels": spec.channels, "num_feat": spec.kwargs["d_num_feat"],
                                        "input_size": spec.kwargs["d_input_size"]}
    cfg.task.cs_matrices = ""
    cfg.val.update(source="", path="")
    cfg.optim.ema_decay = 0.0
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"--compute-dtype: expected one of {list(COMPUTE_DTYPES)}, got {compute_dtype!r}")
    cfg.train.update(global_batch_size=spec.batch, devices=devices, compute_dtype=compute_dtype)
    cfg.data.patch_size = spec.target_hw[0]
    return cfg


def make_batch(spec: BenchSpec, mode: str, seed: int = 0) -> dict:
    """Random NHWC float32 arrays in [0, 1]: train {"input": [B, h, w, C], "target": [B, H, W, C]};
    infer {"input": [B, h', w', C]} (h', w' = spec.infer_hw())."""
    import numpy as np

    rng = np.random.default_rng(seed)
    b, c = spec.batch, spec.channels
    if mode == "infer":
        return {"input": rng.random((b, *spec.infer_hw(), c), dtype=np.float32)}
    target = rng.random((b, *spec.target_hw, c), dtype=np.float32)
    if spec.task in ("denoise", "cs"):
        return {"input": np.clip(target + 0.1 * rng.standard_normal(target.shape, dtype=np.float32), 0, 1)
                if spec.task == "denoise" else target, "target": target}
    return {"input": rng.random((b, *spec.input_hw, c), dtype=np.float32), "target": target}
