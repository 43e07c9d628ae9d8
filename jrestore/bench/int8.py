"""INT8 rows of `jrestore bench`: the int8 model of a bench entry, inferred beside its float32 rows.

    jax_int8    the int8 file through AQT int8 convolutions (jrestore.quantize.int8_forward), jitted, 1 device
    torch_int8  the same file as torch.ao's converted module (torch_ref.quantize.int8_model, x86 / fbgemm),
                eager NCHW, under torch.no_grad()

Only for entries whose model spec has a `quant_stack` (dncnn, fsrcnn), in infer mode. The file is the user's
(`--int8 FILE`, matched to the entry by its model name) or, without one, made on the fly: torch.ao PTQ of the
model at its bench arguments (DnCNN with BatchNorm folded, act_mode 'R': the chain quantises the folded network;
the float rows keep the entry's BN, a per-channel affine in eval mode) from the seeded initialisation, calibrated
on one generated infer batch. Speed does not depend on the weights' values, so `--quick` includes them with no
data. The ratio int8 / float32 per framework (`int8_ratios` in bench.json, a table in bench.md) is the per-round
images/s of jax_int8 over jax and of torch_int8 over torch_eager (or, when that was not measured, the fastest
float32 torch impl that was).
"""
from __future__ import annotations

from pathlib import Path

from jrestore.bench.specs import INT8_IMPLS

__all__ = ["INT8_IMPLS", "INT8_FLOAT_REFERENCE", "int8_kwargs", "supports_int8", "int8_files", "jax_int8_infer",
           "torch_int8_infer", "int8_ratios"]

# the float32 row each int8 row is compared with (torch: eager NCHW, as the converted int8 module runs)
INT8_FLOAT_REFERENCE = {"jax_int8": ("jax",), "torch_int8": ("torch_eager", "torch_channels_last", "torch_compile")}
# bench arguments the int8 chain needs: DnCNN quantises its BN-folded network (the official checkpoints' layout)
_INT8_ARGS = {"dncnn": {"act_mode": "R"}}


def int8_kwargs(spec) -> dict:
    """The constructor arguments of `spec`'s int8 model: its bench arguments with what the chain needs."""
    from jrestore.bench.specs import generator_kwargs

    return {**generator_kwargs(spec), **_INT8_ARGS.get(spec.model, {})}


def supports_int8(spec) -> bool:
    """True when the entry's model has an int8 chain (its spec's quant_stack) at its bench arguments."""
    from jrestore.core.quantize import quant_stack

    try:
        quant_stack(spec.model, int8_kwargs(spec))
    except ValueError:
        return False
    return True


def _ptq_file(spec, folder: Path) -> Path:
    """torch.ao PTQ of the seeded model at `spec`'s int8 arguments, calibrated on one generated infer batch."""
    import numpy as np
    import torch
    import torch_ref.models as tmodels
    import torch_ref.quantize as tq
    from jrestore.bench.specs import make_batch
    from jrestore.core.quantize import quant_stack, save_int8_file

    kwargs = int8_kwargs(spec)
    torch.manual_seed(0)
    net = tmodels.get(spec.model, **kwargs).eval()
    x = make_batch(spec, "infer", seed=1)["input"]
    _, tensors = tq.ptq(net, quant_stack(spec.model, kwargs), [torch.from_numpy(np.ascontiguousarray(
        x.transpose(0, 3, 1, 2)))])
    return save_int8_file(folder / f"{spec.name}.int8.safetensors", tensors, model=spec.model, kwargs=kwargs,
                          method="ptq", framework="torch",
                          calibration={"source": "jrestore bench: one generated infer batch, seeded weights"})


def int8_files(specs, given, folder) -> dict:
    """{entry name: int8 file path} for every entry that supports int8: the --int8 file whose model is the
    entry's, else one made on the fly in `folder`. ValueError for a given file that is not an int8 file or
    whose model no measured entry has."""
    from jrestore.core.quantize import read_int8_file

    by_model = {}
    for path in given or ():
        try:
            stack = read_int8_file(path)[0]
        except (ValueError, FileNotFoundError, OSError) as err:
            raise ValueError(f"--int8: {str(err).removeprefix('--weights: ')}") from None
        if not any(spec.model == stack.model for spec in specs):
            raise ValueError(f"--int8: {path} is an int8 {stack.model} model; the measured entries are "
                             f"{[spec.name for spec in specs]}")
        by_model[stack.model] = str(path)
    folder = Path(folder)
    out = {}
    for spec in specs:
        if spec.model in by_model:
            out[spec.name] = by_model[spec.model]
        elif supports_int8(spec):
            out[spec.name] = str(_ptq_file(spec, folder))
    return out


def jax_int8_infer(spec, path):
    """(step, images): the int8 file's AQT model on the entry's infer batch, jitted; step() blocks."""
    import jax
    import jax.numpy as jnp
    from jrestore.bench.specs import make_batch
    from jrestore.core.quantize import read_int8_file
    from jrestore.quantize import int8_forward

    stack, tensors, _, kwargs = read_int8_file(path)
    forward = int8_forward(stack, tensors, kwargs)
    x = jnp.asarray(make_batch(spec, "infer")["input"])

    def step():
        jax.block_until_ready(forward(x))

    return step, spec.batch


def torch_int8_infer(spec, path):
    """(step, images): the int8 file as torch.ao's converted module (CPU) on the entry's infer batch."""
    import numpy as np
    import torch
    from jrestore.bench.specs import make_batch
    from jrestore.core.quantize import read_int8_file
    from torch_ref.quantize import int8_model

    stack, tensors, _, kwargs = read_int8_file(path)
    net = int8_model(stack, tensors, kwargs)
    x = torch.from_numpy(np.ascontiguousarray(make_batch(spec, "infer")["input"].transpose(0, 3, 1, 2)))

    def step():
        with torch.no_grad():
            net(x)

    return step, spec.batch


def int8_ratios(rows: list[dict]) -> dict:
    """{model: {"jax" | "torch": {"median", "min", "max", "rounds", "within_noise", "int8_impl", "float_impl",
    "int8_ms", "float_ms"}}}: per round, the int8 row's images/s over its float32 reference row's (>1: int8
    faster), their median and range."""
    from jrestore.bench.report import _pair_stats, _row

    out: dict = {}
    for r in rows:
        if r.get("impl") not in INT8_IMPLS or "images_per_s" not in r:
            continue
        ref = next((f for f in (_row(rows, r["model"], r["mode"], i) for i in INT8_FLOAT_REFERENCE[r["impl"]])
                    if f is not None), None)
        if ref is None:
            continue
        if r["impl"] == "torch_int8" and ref["impl"] != "torch_eager":  # the fastest measured float32 torch row
            ref = max((f for f in (_row(rows, r["model"], r["mode"], i) for i in INT8_FLOAT_REFERENCE["torch_int8"])
                       if f is not None), key=lambda f: f["images_per_s"])
        st = _pair_stats(r, ref)
        out.setdefault(r["model"], {})[r["impl"].removesuffix("_int8")] = {
            "median": st["median"], "min": st["min"], "max": st["max"], "rounds": st["rounds"],
            "within_noise": st["within_noise"], "int8_impl": r["impl"], "float_impl": ref["impl"],
            "int8_ms": r["median_ms"], "float_ms": ref["median_ms"]}
    return out
