"""PyTorch measurements (in the `jrestore bench` process itself): torch_ref models, the trainer twin's step.

    torch_eager          NCHW tensors, eager
    torch_channels_last  model and inputs in torch.channels_last memory format, eager
    torch_compile        torch.compile(model) (default mode) on NCHW; loss, backward and Adam stay as in
                         eager training code (AOTAutograd compiles the model's backward with its forward).
                         Its first call, timed as compile_s, includes the Dynamo/Inductor compilation.
    torch_amp            channels_last eager under torch.autocast(bfloat16) (automatic mixed precision), CUDA
                         only (AMP_DEVICES): train with train.compute_dtype=bfloat16, the trainer's own autocast
                         (train/objective.py: weights, gradients and losses float32); infer under autocast.

train: train.torch_trainer.TorchTrainer.step_tensors (zero_grad, train.objective.Objective.torch_loss, backward,
gradient norm, clipping when configured, the train.optim optimizer and scheduler; srgan: train/gan.py's
generator then discriminator update) with the same config, model arguments and batch as the JAX rows.
infer: the model in eval mode under torch.no_grad(). Batches are converted to NCHW tensors once, outside
the timed steps. The device is CUDA when torch sees one, else the CPU.
"""
from __future__ import annotations

import sys

from jrestore.bench.measure import RssPeak, matmul_gflops, time_steps
from jrestore.bench.specs import BenchSpec, generator_kwargs, make_batch, train_config

__all__ = ["torch_device", "torch_train", "torch_infer", "measure", "build", "matmul_peak", "AMP_DEVICES",
           "amp_unavailable"]

AMP_DEVICES = ("cuda",)  # where torch_amp is measured (tests widen it to exercise the code on a CPU)


def amp_unavailable() -> str | None:
    """Why torch_amp cannot be measured here (None when it can)."""
    dev = torch_device().type
    return None if dev in AMP_DEVICES else f"torch_amp is measured on CUDA only (torch runs on {dev} here)"


def torch_device():
    import torch
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync(device) -> None:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _prepare(model, impl: str, device):
    """The model on `device` in the layout of `impl`, and the callable to run it with (compiled or not)."""
    import torch
    from train.torch_trainer import place

    model = place(model, device, impl in ("torch_channels_last", "torch_amp"))
    return model, (torch.compile(model) if impl == "torch_compile" else model)


def torch_train(spec: BenchSpec, impl: str):
    """(step, images): train.torch_trainer.TorchTrainer's step for `spec`'s config (srgan: its generator then
    discriminator update), laid out and compiled as `impl` says; step() returns after the update."""
    from train.torch_trainer import TorchTrainer

    device = torch_device()
    cfg = train_config(spec, compute_dtype="bfloat16" if impl == "torch_amp" else "float32")
    trainer = TorchTrainer(cfg, None, device=device, channels_last=impl in ("torch_channels_last", "torch_amp"),
                           compile=impl == "torch_compile")
    batch = trainer.tensors(make_batch(spec, "train"))  # converted once, outside the timed steps

    def step():
        trainer.step_tensors(batch)
        _sync(device)

    return step, spec.batch


def torch_infer(spec: BenchSpec, impl: str):
    """(step, images): the model's forward in eval mode (ISTA-Net+: the reconstruction; srgan: the generator)."""
    import torch
    import torch_ref.models as tmodels

    device = torch_device()
    model, run = _prepare(tmodels.get(spec.model, **generator_kwargs(spec)).eval(), impl, device)
    from train.torch_trainer import nchw_tensors

    x = nchw_tensors(make_batch(spec, "infer"), device, impl in ("torch_channels_last", "torch_amp"))["input"]
    amp = impl == "torch_amp"

    def step():
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            run(x)
        _sync(device)

    return step, spec.batch


def build(spec: BenchSpec, mode: str, impl: str, int8_file: str | None = None):
    """(step, images) for one (model, mode, impl); ValueError for torch_amp where it is not measured.
    torch_int8: the int8 file as torch.ao's converted module (jrestore/bench/int8.py), infer only."""
    if impl == "torch_amp" and amp_unavailable():
        raise ValueError(amp_unavailable())
    if impl == "torch_int8":
        from jrestore.bench.int8 import torch_int8_infer

        if mode != "infer" or int8_file is None:
            raise ValueError(f"torch_int8 runs an int8 file in infer mode (mode {mode!r}, file {int8_file!r})")
        return torch_int8_infer(spec, int8_file)
    return (torch_infer if mode == "infer" else torch_train)(spec, impl)


def measure(spec: BenchSpec, mode: str, impl: str, steps: int, warmup: int, keep: dict | None = None,
            int8_file: str | None = None) -> dict:
    """One (model, mode, impl) row: timings (measure.time_steps), images per step, torch threads.
    keep: a dict that receives the warm step under (model, mode, impl), for later rounds (measure.time_round).
    int8_file: the int8 model torch_int8 runs."""
    import torch

    with RssPeak() as mem:
        step, images = build(spec, mode, impl, int8_file)
        timing = time_steps(step, steps, warmup, mem)
    if keep is not None:
        keep[(spec.name, mode, impl)] = step
    row = {"model": spec.name, "mode": mode, "impl": impl, "devices": 1, "images_per_step": images,
           "threads": torch.get_num_threads(), **timing}
    if impl == "torch_int8":
        row["int8_file"] = int8_file
    if torch_device().type == "cuda":
        row["device_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
    return row


def matmul_peak(n: int, reps: int) -> float:
    """GFLOP/s of an n x n float32 torch.mm on torch_device() (the best of reps)."""
    import torch

    device = torch_device()
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(device) for _ in range(2))

    def mm():
        torch.mm(a, b)
        _sync(device)

    return matmul_gflops(mm, n, reps)


def log(msg: str) -> None:
    print(f"[bench torch] {msg}", file=sys.stderr, flush=True)
