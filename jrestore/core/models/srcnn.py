"""The framework-neutral part of jrestore.models.srcnn: its argument checks, constants and NumPy helpers.

Shared by jrestore.models.srcnn and its torch_ref twin; importing this module loads neither JAX nor
PyTorch (see jrestore.core).
"""
from __future__ import annotations

from jrestore._validate import check_choice, check_int
from jrestore.core.spec import BenchEntry, ModelSpec, ParityCase, WeightShapes, sr_images

__all__ = ["SPECS", "SRCNN_KERNELS", "check_fsrcnn_args", "srcnn_config"]


SRCNN_KERNELS = {"915": (9, 1, 5), "955": (9, 5, 5)}


def srcnn_config(num_channels: int, variant: str, padding: str) -> tuple[tuple, tuple, int]:
    """Validated SRCNN layout: (kernel sizes, per-layer padding, total output shrink in pixels)."""
    check_int(num_channels, "num_channels")
    check_choice(variant, "variant", SRCNN_KERNELS)
    check_choice(padding, "padding", ("same", "valid"))
    kernels = SRCNN_KERNELS[variant]
    if padding == "same":
        return kernels, tuple(k // 2 for k in kernels), 0
    return kernels, (0, 0, 0), sum(k - 1 for k in kernels)


def check_fsrcnn_args(scale_factor: int, num_channels: int, d: int, s: int, m: int) -> None:
    check_int(scale_factor, "scale_factor")
    check_int(num_channels, "num_channels")
    check_int(d, "d")
    check_int(s, "s")
    check_int(m, "m", minimum=0)


# --- specs (jrestore.core.spec); halos in LR pixels, rounded up generously over the deconvolution tail ----------
def _srcnn_rule(s: WeightShapes) -> dict:
    k2 = s("conv2.weight")[2]
    variants = {1: "915", 5: "955"}
    out = {"num_channels": s("conv1.weight")[1]}
    if k2 in variants:
        out["variant"] = variants[k2]
    return out


def _fsrcnn_rule(s: WeightShapes) -> dict:
    d, c = s("first_part.0.weight")[:2]
    mid = [i for i in s.indices(r"mid_part\.(\d+)\.weight") if len(s(f"mid_part.{i}.weight")) == 4]
    return {"num_channels": c, "d": d, "s": s("mid_part.0.weight")[0], "m": len(mid) - 2}


def _srcnn_hw(kw: dict) -> tuple:
    shrink = srcnn_config(kw.get("num_channels", 1), kw.get("variant", "955"), kw.get("padding", "same"))[2]
    return (16 + shrink,) * 2


def _fsrcnn_quant_stack(kwargs):
    """jrestore quantize's int8 chain: every conv, PReLU and the deconvolution in order."""
    from jrestore.core.quantize import QuantStack, StackLayer

    m = int(kwargs.get("m", 4))
    layers = [StackLayer("first_part.0", "conv"), StackLayer("first_part.1", "prelu")]
    layers += [StackLayer(f"mid_part.{i}", "conv" if i % 2 == 0 else "prelu") for i in range(2 * m + 4)]
    layers.append(StackLayer("last_part", "conv_transpose"))
    return QuantStack("fsrcnn", tuple(layers), residual=False)


SPECS = (
    ModelSpec("srcnn", "sr", channels_arg="num_channels", input_transform="bicubic_upsample", halo=lambda kw: 12,
              weights_rule=_srcnn_rule, example_hw=_srcnn_hw,
              # 9-1-5 'valid' (the paper's network): 17x15 -> 5x3; full: the yjn870 9-5-5 'same' default
              parity=ParityCase(small={"variant": "915", "padding": "valid"}, train_mode=False,
                                inputs=lambda rng, full: (sr_images(rng, (1, 24, 20, 1) if full else (2, 17, 15, 1)),)),
              # train upsamples the 32x32 LR batch inside the step; infer times the network on the 96x96 image
              bench=(BenchEntry("srcnn", {"num_channels": 1, "variant": "955", "padding": "same"}, batch=16,
                                input_hw=(32, 32), scale=3, recipe="srcnn_x3"),),
              recipe="srcnn_x3"),
    ModelSpec("fsrcnn", "sr", channels_arg="num_channels", scale_arg="scale_factor", halo=lambda kw: kw.get("m", 4) + 6,
              weights_rule=_fsrcnn_rule,
              parity=ParityCase(small={"scale_factor": 3, "d": 8, "s": 4, "m": 1}, train_mode=False,
                                inputs=lambda rng, full: (sr_images(rng, (1, 12, 10, 1) if full else (2, 9, 7, 1)),)),
              bench=(BenchEntry("fsrcnn", {"scale_factor": 3, "num_channels": 1, "d": 56, "s": 12, "m": 4}, batch=16,
                                input_hw=(32, 32), scale=3, recipe="fsrcnn_x3"),),
              recipe="fsrcnn_x3", quant_stack=_fsrcnn_quant_stack),
)
