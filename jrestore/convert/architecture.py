"""Constructor arguments implied by a PyTorch-layout state dict, so users need not pass them by hand.

    infer_kwargs("dncnn", torch.load("dncnn_25.pth", weights_only=True))
    -> {'in_nc': 1, 'out_nc': 1, 'nc': 64, 'nb': 17, 'act_mode': 'R', 'variant': 'plain'}

Only what the weights determine is returned; the rest keeps the registry defaults (or --set):
- activations without parameters (DnCNN's 'R' vs 'L') read as ReLU; BN is seen from `running_mean` keys;
- FSRCNN's scale factor is not in its weights (the deconvolution's stride), nor SRCNN's padding, the
  ISTA-Nets' Phi / Qinit (they come from .mat files; only a learned Phi, `learn_phi=True`, is a weight),
  the U-Net's `residual`, VGG's normalisation and taps;
- the SRGAN discriminator's input size is read from the dense layer as 16 n for an n x n final feature map
  (every size in 16 n - 15 .. 16 n gives the same weights), only when that map is square.
Unknown names, and state dicts that do not look like the named model, give {} (loading then reports the
first mismatching key). Keys may carry nn.DataParallel's 'module.' prefix.
"""
from __future__ import annotations

import math
import re
from typing import Callable, Mapping

__all__ = ["infer_kwargs", "INFERABLE"]


class _Missing(KeyError):
    """A key the named model must have is absent: the state dict is not that model's."""


class _Shapes:
    """Key -> shape view of a state dict ('module.' stripped), with lookups that raise _Missing."""

    def __init__(self, state_dict: Mapping):
        self.shapes = {(k[len("module."):] if k.startswith("module.") else k): tuple(v.shape)
                       for k, v in state_dict.items()}

    def __call__(self, key: str) -> tuple:
        if key not in self.shapes:
            raise _Missing(key)
        return self.shapes[key]

    def indices(self, pattern: str) -> list[int]:
        """Sorted distinct integers captured by `pattern` (a regex with one group) over all keys."""
        rx = re.compile(pattern)
        return sorted({int(m.group(1)) for k in self.shapes if (m := rx.fullmatch(k))})

    def any(self, pattern: str) -> bool:
        rx = re.compile(pattern)
        return any(rx.fullmatch(k) for k in self.shapes)


def _act_mode(s: _Shapes, prefix: str) -> str:
    return "BR" if s.any(re.escape(prefix) + r".*running_mean") else "R"


def _dncnn(s: _Shapes) -> dict:
    nc, in_nc = s("model.0.weight")[:2]
    if s.any(r"model\.\d+\.conv1\.weight"):
        variant, units = "residual", s.indices(r"model\.(\d+)\.conv1\.weight")
    elif s.any(r"model\.\d+\.depthwise\.weight"):
        variant, units = "separable", s.indices(r"model\.(\d+)\.depthwise\.weight")
    else:  # plain: every 4-D model.{i}.weight is a conv (BN weights are 1-D)
        variant = "plain"
        units = [i for i in s.indices(r"model\.(\d+)\.weight") if len(s(f"model.{i}.weight")) == 4][1:-1]
    last = max(s.indices(r"model\.(\d+)\.weight"))
    out_nc = s(f"model.{last}.weight")[0]
    return {"in_nc": in_nc, "out_nc": out_nc, "nc": nc, "nb": len(units) + 2, "act_mode": _act_mode(s, "model."),
            "variant": variant}


def _ffdnet(s: _Shapes) -> dict:
    nc, cin = s("model.0.weight")[:2]
    convs = [i for i in s.indices(r"model\.(\d+)\.weight") if len(s(f"model.{i}.weight")) == 4]
    cout = s(f"model.{convs[-1]}.weight")[0]
    if (cin - 1) % 4 or cout % 4:  # pixel-unshuffle by 2 plus the noise map: 4 in_nc + 1 in, 4 out_nc out
        return {}
    return {"in_nc": (cin - 1) // 4, "out_nc": cout // 4, "nc": nc, "nb": len(convs), "act_mode": _act_mode(s, "model.")}


def _ista(s: _Shapes) -> dict:
    phases = s.indices(r"fcs\.(\d+)\..*")
    if not phases:
        raise _Missing("fcs.0.*")
    out = {"num_phases": len(phases)}
    if "phi" in s.shapes:  # learn_phi=True makes Phi [M, block_size**2] a parameter
        m, n = s("phi")
        bs = math.isqrt(n)
        if bs * bs == n:
            from jrestore.models.ista_net import OFFICIAL_MEASUREMENTS, num_measurements
            official = [r for r, mm in OFFICIAL_MEASUREMENTS.items() if mm == m and bs == 33]
            ratio = official[0] if official else 100.0 * m / n
            if num_measurements(ratio, bs) == m:
                out.update(learn_phi=True, block_size=bs, cs_ratio=ratio)
    return out


def _srcnn(s: _Shapes) -> dict:
    k2 = s("conv2.weight")[2]
    variants = {1: "915", 5: "955"}
    out = {"num_channels": s("conv1.weight")[1]}
    if k2 in variants:
        out["variant"] = variants[k2]
    return out


def _fsrcnn(s: _Shapes) -> dict:
    d, c = s("first_part.0.weight")[:2]
    mid = [i for i in s.indices(r"mid_part\.(\d+)\.weight") if len(s(f"mid_part.{i}.weight")) == 4]
    return {"num_channels": c, "d": d, "s": s("mid_part.0.weight")[0], "m": len(mid) - 2}


def _espcn(s: _Shapes) -> dict:
    c = s("first_part.0.weight")[1]
    out_ch = s("last_part.0.weight")[0]
    r = math.isqrt(out_ch // c) if out_ch % c == 0 else 0
    out = {"num_channels": c}
    if r >= 1 and r * r * c == out_ch:  # the sub-pixel conv gives C * s**2 channels
        out["scale_factor"] = r
    return out


def _srresnet(s: _Shapes) -> dict:
    nf, c = s("conv_block1.0.weight")[:2]
    return {"num_channels": c, "num_feat": nf, "num_block": len(s.indices(r"trunk\.(\d+)\..*")),
            "scale": 2 ** len(s.indices(r"upsampling\.(\d+)\..*"))}


def _msrresnet(s: _Shapes) -> dict:
    nf, c = s("conv_first.weight")[:2]
    up = 4 if s.any(r"upconv2\.weight") else math.isqrt(s("upconv1.weight")[0] // nf)
    return {"num_in_ch": c, "num_out_ch": s("conv_last.weight")[0], "num_feat": nf,
            "num_block": len(s.indices(r"body\.(\d+)\..*")), "upscale": up}


def _wasa(s: _Shapes) -> dict:
    nf, c = s("head.weight")[:2]
    blocks = s.indices(r"body\.(\d+)\..*")
    ups = [i for i in s.indices(r"upsample\.(\d+)\.weight") if s(f"upsample.{i}.weight")[0] == 4 * nf]
    out = {"num_channels": c, "num_feat": nf, "num_block": len(blocks), "scale": 2 ** len(ups)}
    if blocks:  # channel attention squeezes 4 num_feat channels to 4 num_feat // reduction
        hidden = s(f"body.{blocks[0]}.ca.fc.0.weight")[0]
        if (4 * nf) % hidden == 0:
            out["reduction"] = 4 * nf // hidden
    return out


def _attention_unet(s: _Shapes) -> dict:
    nf, c = s("Conv1.conv.0.weight")[:2]
    return {"img_ch": c, "output_ch": s("Conv_1x1.weight")[0], "num_feat": nf,
            "depth": len(s.indices(r"Conv(\d+)\..*")) - 1}


def _enhancer(s: _Shapes) -> dict:
    nf, c = s("scale1.0.weight")[:2]
    return {"in_channels": c, "num_feat": nf}


def _vgg(s: _Shapes) -> dict:
    return {"num_feat": s("features.0.weight")[0]}


def _discriminator(s: _Shapes) -> dict:
    f, c = s("features.0.weight")[:2]
    out = {"num_channels": c, "num_feat": f}
    flat = s("classifier.0.weight")[1]
    if flat % (8 * f) == 0:
        cells = flat // (8 * f)  # fh * fw of the last 8f-channel feature map
        n = math.isqrt(cells)
        if n * n == cells:
            out["input_size"] = 16 * n  # four stride-2 convs: ceil(size / 16) = n
    return out


INFERABLE: dict[str, Callable[[_Shapes], dict]] = {
    "dncnn": _dncnn, "ffdnet": _ffdnet, "ista_net": _ista, "ista_net_plus": _ista, "srcnn": _srcnn,
    "fsrcnn": _fsrcnn, "espcn": _espcn, "srresnet": _srresnet, "msrresnet": _msrresnet, "wasa": _wasa, "attention_unet": _attention_unet,
    "multiscale_enhancer": _enhancer, "vgg16": _vgg, "vgg19": _vgg, "srgan_discriminator": _discriminator,
}


def infer_kwargs(name: str, state_dict: Mapping) -> dict:
    """Registry constructor arguments of model `name` that `state_dict` (torch layout) determines.

    state_dict: {key: tensor or array}, PyTorch layout (as `jrestore.convert.torch_state_dict` gives).
    Returns {} for names without a rule and for state dicts that lack the model's keys.
    """
    rule = INFERABLE.get(name)
    if rule is None:
        return {}
    try:
        return {k: (int(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                for k, v in rule(_Shapes(state_dict)).items()}
    except (_Missing, IndexError, ValueError):  # not this model's layout: loading will name the first bad key
        return {}
