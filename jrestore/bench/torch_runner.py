"""PyTorch measurements (in the `jrestore bench` process itself): torch_ref models, the trainer twin's step.

    torch_eager          NCHW tensors, eager
    torch_channels_last  model and inputs in torch.channels_last memory format, eager
    torch_compile        torch.compile(model) (default mode) on NCHW; loss, backward and Adam stay as in
                         eager training code (AOTAutograd compiles the model's backward with its forward).
                         Its first call, timed as compile_s, includes the Dynamo/Inductor compilation.

train: the step of train.torch_trainer.TorchTrainer (zero_grad, train.objective.torch_loss, backward,
gradient norm, clipping when configured, the train.optim optimizer and scheduler) with the same config,
model arguments and batch as the JAX rows; srgan: one generator then one discriminator update (see
jrestore.bench.specs). infer: the model in eval mode under torch.no_grad(). Batches are converted to NCHW
tensors once, outside the timed steps. The device is CUDA when torch sees one, else the CPU.
"""
from __future__ import annotations

import sys

import numpy as np

from jrestore.bench.measure import RssPeak, matmul_gflops, time_steps
from jrestore.bench.specs import BenchSpec, make_batch, train_config

__all__ = ["torch_device", "torch_train", "torch_infer", "torch_gan", "measure", "matmul_peak"]


def torch_device():
    import torch
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync(device) -> None:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _tensors(batch: dict, device, channels_last: bool) -> dict:
    """NHWC NumPy -> NCHW tensors on `device` (channels_last: the same shape, NHWC strides)."""
    import torch

    out = {}
    for k, v in batch.items():
        t = torch.from_numpy(np.ascontiguousarray(np.asarray(v, np.float32).transpose(0, 3, 1, 2))).to(device)
        out[k] = t.contiguous(memory_format=torch.channels_last) if channels_last else t
    return out


def _prepare(model, impl: str, device):
    """The model on `device` in the layout of `impl`, and the callable to run it with (compiled or not)."""
    import torch

    model = model.to(device)
    if impl == "torch_channels_last":
        model = model.to(memory_format=torch.channels_last)
    return model, (torch.compile(model) if impl == "torch_compile" else model)


def torch_train(spec: BenchSpec, impl: str):
    """(step, images): the torch trainer twin's step for `spec`'s config; step() returns after the update."""
    import torch
    import torch_ref.models as tmodels
    from train.objective import torch_loss
    from train.optim import make_torch
    from train.trainer import model_kwargs

    cfg = train_config(spec)
    device = torch_device()
    model, run = _prepare(tmodels.get(spec.model, **model_kwargs(cfg)).train(), impl, device)
    opt, sched, clip = make_torch(cfg, model.parameters(), int(cfg.train.steps))
    batch = _tensors(make_batch(spec, "train"), device, impl == "torch_channels_last")

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch_loss(cfg, run, batch)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))  # as the twin logs
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        _sync(device)

    return step, spec.batch


def torch_gan(spec: BenchSpec, impl: str):
    """(step, images): the SRGAN generator + discriminator step of jrestore.bench.jax_runner.gan_step_fn."""
    import torch
    import torch_ref.losses as L
    import torch_ref.models as tmodels

    device = torch_device()
    kw = dict(spec.kwargs)
    d_kwargs = {"num_channels": kw["num_channels"], "num_feat": kw.pop("d_num_feat"), "input_size": kw.pop("d_input_size")}
    g, run_g = _prepare(tmodels.get("srresnet", **kw).train(), impl, device)
    d, run_d = _prepare(tmodels.get("srgan_discriminator", **d_kwargs).train(), impl, device)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), lr=1e-4), torch.optim.Adam(d.parameters(), lr=1e-4)
    batch = _tensors(make_batch(spec, "train"), device, impl == "torch_channels_last")
    mse = L.get("mse")

    def step():
        for p in d.parameters():  # D frozen for the generator update (BasicSR)
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        fake = run_g(batch["input"])
        (mse(fake, batch["target"]) + 1e-3 * L.gan_loss(run_d(fake), True)).backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        d_loss = (L.gan_loss(run_d(batch["target"]), True, is_disc=True)
                  + L.gan_loss(run_d(fake.detach()), False, is_disc=True))
        d_loss.backward()
        opt_d.step()
        _sync(device)

    return step, spec.batch


def torch_infer(spec: BenchSpec, impl: str):
    """(step, images): the model's forward in eval mode (ISTA-Net+: the reconstruction; srgan: the generator)."""
    import torch
    import torch_ref.models as tmodels

    device = torch_device()
    kw = dict(spec.kwargs)
    if spec.task == "gan":
        kw.pop("d_num_feat"), kw.pop("d_input_size")
    model, run = _prepare(tmodels.get(spec.model, **kw).eval(), impl, device)
    x = _tensors(make_batch(spec, "infer"), device, impl == "torch_channels_last")["input"]

    def step():
        with torch.no_grad():
            run(x)
        _sync(device)

    return step, spec.batch


def measure(spec: BenchSpec, mode: str, impl: str, steps: int, warmup: int) -> dict:
    """One (model, mode, impl) row: timings (measure.time_steps), images per step, torch threads."""
    import torch

    build = torch_infer if mode == "infer" else (torch_gan if spec.task == "gan" else torch_train)
    with RssPeak() as mem:
        step, images = build(spec, impl)
        timing = time_steps(step, steps, warmup, mem)
    row = {"model": spec.name, "mode": mode, "impl": impl, "devices": 1, "images_per_step": images,
           "threads": torch.get_num_threads(), **timing}
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
