"""A restoration task: one model with its weights, ready to restore images in JAX and in PyTorch.

    task = build_task("dncnn", "dncnn_25.pth")                      # kwargs inferred from the weights
    out = task.restore(noisy, "jax")                                # [H, W, 1] float32 -> [H, W, 1]
    out = task.restore(lr, "torch", tile=256)                       # tiled: bounded memory, same numbers

`build_task` is the one place that turns (model name, weights file, --scale / --sigma / --cs-ratio,
--cs-matrices) into networks, so `jrestore eval`, `restore` and `export` agree on every model's contract
(see `jrestore.inference.specs`). Both frameworks load the same state dict; the JAX side jits a pure
function of the split NNX state (no per-call graph traversal).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from jrestore.inference.specs import MIN_SIZE, ModelSpec, get_spec
from jrestore.inference.tiling import pad_to_multiple, tiled_apply

__all__ = ["BASELINES", "FRAMEWORK_FREE", "Task", "build_task", "task_from_model", "live_forward", "upsampler",
           "FRAMEWORKS", "UPSAMPLERS"]

FRAMEWORKS = ("jax", "torch")
# the bicubic of each benchmark protocol (names of jrestore.ops.resize / torch_ref.ops.resize functions)
UPSAMPLERS = {"matlab": "imresize_matlab", "pil": "resize_bicubic_pil", "torch": "resize_bicubic_torch"}
CS_CHUNK = 1024  # blocks per call: bounds memory on large images, one compiled shape for all chunks


@dataclass
class Task:
    """A model ready to restore single images. `restore(x, framework)`: x [H, W, channels] float32 in [0, 1]
    (for SR the LR image; for CS the image to be measured) -> [H*scale, W*scale, channels] float32, unclipped."""

    name: str
    kind: str                 # 'cs' | 'denoise' | 'sr'
    channels: int | None      # None: any (the bicubic baseline)
    scale: int
    align: int
    halo: int | None          # None: global model, tiled output is approximate
    kwargs: dict
    weights: str | None
    forwards: dict[str, Callable[[np.ndarray], np.ndarray]] = field(repr=False)
    min_size: int = MIN_SIZE

    @property
    def frameworks(self) -> tuple[str, ...]:
        return tuple(self.forwards)

    def restore(self, x: np.ndarray, framework: str = "jax", tile: int | None = None) -> np.ndarray:
        """x: [H, W, C] float32 -> restored [H*s, W*s, C] float32. tile: process in overlapping tiles of
        about tile x tile input pixels (None: whole image). Exact when the model's halo is finite."""
        if framework not in self.forwards:
            raise ValueError(f"framework: expected one of {list(self.forwards)}, got {framework!r}")
        x = np.asarray(x, np.float32)
        if x.ndim != 3 or (self.channels is not None and x.shape[2] != self.channels):
            want = "C" if self.channels is None else self.channels
            raise ValueError(f"x: expected [H, W, {want}] for {self.name}, got shape {x.shape}")
        h, w = x.shape[:2]
        if min(h, w) < self.min_size:
            raise ValueError(f"image: {h}x{w} is smaller than {self.name}'s minimum of "
                             f"{self.min_size}x{self.min_size} pixels")
        fn = self.forwards[framework]
        if self.kind == "cs":  # block-local already: chunked inside the forward
            return fn(x)
        padded = pad_to_multiple(x, self.align)
        if tile is None or max(padded.shape[:2]) <= tile:
            out = fn(padded)
        else:
            halo = self.halo if self.halo is not None else max(32, tile // 4)
            out = tiled_apply(fn, padded, tile=tile, halo=halo, scale=self.scale, align=self.align)
        return out[:h * self.scale, :w * self.scale]


# ---- building ----

def _resolve_scale(name: str, spec: ModelSpec, kwargs: dict, inferred: dict, scale, weights) -> int:
    """The SR factor: --scale, else the constructor argument (--set, the weights' shapes, or the metadata
    `jrestore convert` recorded). Never guessed from a file name: 'fsrcnn_x3.pth' renamed must not run x2."""
    if spec.kind != "sr":
        if scale not in (None, 1):
            raise ValueError(f"--scale: {name} is a {spec.kind} model (scale 1), got {scale}")
        return 1
    trained = inferred.get(spec.scale_arg) if spec.scale_arg else None
    if scale is None:
        scale = kwargs.get(spec.scale_arg) if spec.scale_arg else None
        if scale is None:
            why = (f"its weights {weights} do not determine it" if weights and spec.scale_arg
                   else "it runs at any factor" if not spec.scale_arg else "no weights give it")
            raise ValueError(f"--scale: {name} needs the SR factor ({why}); pass --scale N (e.g. --scale 3)")
    if trained is not None and trained != scale:
        raise ValueError(f"--scale: {weights} was trained for x{trained} (its weights say so), got --scale {scale}")
    return int(scale)


def _recorded_kwargs(model: str, weights) -> dict:
    """Constructor arguments a model file (what `jrestore convert` and the trainer write) records in its
    metadata for `model` (e.g. FSRCNN's scale_factor, which no tensor shape gives); {} for other files.
    weights: a file, or a training workdir (WORKDIR, WORKDIR:best)."""
    if not isinstance(weights, (str, Path)):
        return {}
    from jrestore.core.model_file import recorded_kwargs, recorded_model, resolve_weights
    file, meta = resolve_weights(weights)
    return recorded_kwargs(meta) if recorded_model(meta) == model else {}


def _load_weights(weights):
    if weights is None:
        return None, None
    if isinstance(weights, Mapping):
        return dict(weights), "state dict"
    from jrestore.convert.checkpoints import load_state_dict_file
    return load_state_dict_file(weights, what="--weights"), str(weights)


def build_task(model: str, weights=None, *, scale: int | None = None, sigma: float | None = None,
               cs_ratio=None, cs_matrices=None, model_kwargs: dict | None = None,
               frameworks=FRAMEWORKS, upsample: str = "matlab", extras: Mapping | None = None) -> Task:
    """A Task for registry model `model` (or a baseline: 'bicubic', 'bm3d'), in the requested frameworks.

    Args:
      weights: a weights file (see jrestore.convert.checkpoints) or a PyTorch-layout state dict; needed by
        learned models. Constructor arguments are inferred from it, then `model_kwargs` override.
      scale: SR factor (checked against what the weights were trained for).
      sigma: noise level on the 0-255 scale (the value of an extra input named 'sigma', FFDNet's noise
        level; models without one ignore it).
      cs_ratio, cs_matrices: CS ratio in percent and the folder holding phi_0_{R}_1089.mat and
        Initialization_Matrix_{R}.mat (required for learned CS models: they are trained with that Phi).
      upsample: the bicubic used where the pipeline upsamples ('matlab', 'pil', 'torch').
      extras: {name: value} for the model's other extra inputs (its spec's `extra_inputs`), in user units.
    """
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1):
        raise ValueError(f"--scale: expected a positive integer SR factor, got {scale!r}")
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown or not frameworks:
        raise ValueError(f"frameworks: expected a non-empty subset of {list(FRAMEWORKS)}, got {list(frameworks)}")
    if upsample not in UPSAMPLERS:
        raise ValueError(f"upsample: expected one of {sorted(UPSAMPLERS)}, got {upsample!r}")
    if model in BASELINES:
        return BASELINES[model](frameworks, scale=scale, sigma=sigma, upsample=upsample, options=model_kwargs or {})
    spec = get_spec(model)
    state, source = _load_weights(weights)
    if state is not None:
        state = spec.rename_keys(state)  # known foreign layouts (the spec's key_aliases)
    if state is None and spec.needs_weights:
        raise ValueError(f"--weights: {model} is a learned model; pass its weights file")
    inferred = {}
    if state is not None:
        from jrestore.convert.architecture import infer_kwargs
        inferred = {**_recorded_kwargs(model, weights), **infer_kwargs(model, state)}
    kwargs = {**inferred, **(model_kwargs or {})}
    s = _resolve_scale(model, spec, kwargs, inferred, scale, source)
    if spec.scale_arg:
        kwargs[spec.scale_arg] = s
    if spec.kind == "cs":
        kwargs.update(_cs_kwargs(model, spec, kwargs, cs_ratio, cs_matrices))
    values = _extra_values(model, spec, sigma, extras)
    if state is not None:
        state = spec.adapt_state(state, kwargs)  # the spec's state_rule (FSRCNN prelu_split)
    import jrestore.models as jmodels
    jm = jmodels.get(model, **kwargs)  # unknown arguments: one error listing the valid ones
    channels = _channels(model, spec, kwargs)
    forwards = {}
    for fw in frameworks:
        builder = _jax_forward if fw == "jax" else _torch_forward
        forwards[fw] = builder(model, spec, kwargs, state, source, s, values, upsample,
                               jm if fw == "jax" else None)
    return Task(model, spec.kind, channels, s, spec.align(kwargs), spec.halo(kwargs), kwargs,
                source, forwards)


def _extra_values(model: str, spec: ModelSpec, sigma, extras: Mapping | None) -> dict:
    """{extra input name: value in user units} for every extra input the spec declares; a missing one is a
    ValueError naming the flag."""
    given = {**({"sigma": sigma} if sigma is not None else {}), **(extras or {})}
    values = {}
    for extra in spec.extra_inputs:
        if given.get(extra.name) is None:
            raise ValueError(f"--{extra.name}: {model} takes its {extra.help or extra.name} as an input; pass it")
        values[extra.name] = float(given[extra.name])
    return values


def _extra_arrays(spec: ModelSpec, values: Mapping) -> tuple:
    """The spec's extra inputs as [1, ...] float32 NumPy arrays, in call order."""
    return tuple(e.array(values[e.name], 1) for e in spec.extra_inputs)


def _channels(model: str, spec: ModelSpec, kwargs: dict) -> int:
    """Image channels the model takes: its channels argument as given, else the constructor's default."""
    if not spec.channels_arg:
        return 1
    if spec.channels_arg in kwargs:
        return int(kwargs[spec.channels_arg])
    import inspect
    from jrestore.models import MODELS
    return int(inspect.signature(MODELS.lookup(model).__init__).parameters[spec.channels_arg].default)


def _cs_kwargs(model, spec, kwargs, cs_ratio, cs_matrices) -> dict:
    if cs_ratio is None:
        cs_ratio = kwargs.get("cs_ratio")
    if cs_ratio is None:
        raise ValueError(f"--cs-ratio: {model} needs the sampling ratio in percent (e.g. --cs-ratio 25)")
    out = {"cs_ratio": cs_ratio}
    if cs_matrices is not None:
        from jrestore.data.cs_matrices import load_cs_matrices
        phi, qinit = load_cs_matrices(cs_matrices, cs_ratio)
        out["phi"] = phi
        if spec.needs_weights:
            out["qinit"] = qinit
    elif spec.needs_weights and "phi" not in kwargs and not kwargs.get("learn_phi"):  # a learned Phi is a weight
        raise ValueError(f"--cs-matrices: {model} weights are trained with one sampling matrix; pass the folder "
                         f"holding phi_0_{cs_ratio}_1089.mat and Initialization_Matrix_{cs_ratio}.mat")
    return out


def _bicubic_task(frameworks, *, scale=None, sigma=None, upsample="matlab", options=None) -> Task:
    """The interpolation baseline of SR: the protocol's bicubic, in each framework."""
    if options:
        raise ValueError(f"--set: the bicubic baseline takes no options, got {sorted(options)}")
    if scale is None:
        raise ValueError("--scale: the bicubic baseline needs the SR factor (e.g. --scale 3)")
    fwd = {fw: upsampler(fw, upsample, int(scale)) for fw in frameworks}
    return Task("bicubic", "sr", None, int(scale), 1, 2, {}, None, fwd, min_size=1)


def _bm3d_task(frameworks, *, scale=None, sigma=None, upsample="matlab", options=None) -> Task:
    """The classical denoising baseline: BM3D through the `bm3d` package (Makinen, Azzari, Foi's reference
    implementation), told the true noise level: grey (options channels=1, the default, bm3d.bm3d: the
    DnCNN paper's Set12 / BSD68 comparison) or colour (channels=3, CBM3D, bm3d.bm3d_rgb). It runs in NumPy,
    not in either framework, so every framework column gets the same numbers.

    options threads=1 (the default) runs the package single-threaded: with more threads its aggregation
    order follows the thread schedule, so the output moves by up to ~1e-4 from run to run (measured under
    load; bm4d's profiles.py says so too). threads=0 uses every core, about 1.7x faster on 2 cores, at the
    price of run-to-run reproducibility."""
    options = dict(options or {})
    channels = options.pop("channels", 1)
    threads = options.pop("threads", 1)
    if options or channels not in (1, 3) or not (isinstance(threads, int) and threads >= 0):
        raise ValueError(f"--set: bm3d takes channels=1 (grey) or channels=3 (CBM3D) and threads=N (N >= 0; "
                         f"1, the default, is reproducible, 0 uses every core), got "
                         f"{ {'channels': channels, 'threads': threads, **options} }")
    if scale not in (None, 1):
        raise ValueError(f"--scale: bm3d is a denoiser (scale 1), got {scale}")
    if sigma is None:
        raise ValueError("--sigma: bm3d needs the noise level it removes (0-255 scale, e.g. --sigma 25)")
    try:
        import bm3d
    except ImportError:
        raise ValueError("--model bm3d: the bm3d package is not installed (pip install 'jrestore[baselines]')") from None

    last = {}  # the framework columns restore the same image in turn: compute it once

    def run(x: np.ndarray) -> np.ndarray:
        if "x" in last and last["x"].shape == x.shape and np.array_equal(last["x"], x):
            return last["out"].copy()
        last.clear()
        x64 = np.asarray(x, np.float64)
        profile = bm3d.BM3DProfile()
        profile.num_threads = threads
        if x64.shape[2] == 3:
            out = bm3d.bm3d_rgb(x64, sigma_psd=float(sigma) / 255.0, profile=profile)
        else:
            out = np.stack([bm3d.bm3d(x64[..., c], sigma_psd=float(sigma) / 255.0, profile=profile)
                            for c in range(x64.shape[2])], -1)
        last.update(x=np.array(x, copy=True), out=np.asarray(out, np.float32).reshape(x.shape))
        return last["out"].copy()

    return Task("bm3d", "denoise", channels, 1, 1, None, {"sigma": float(sigma), "channels": channels,
                                                          "threads": threads}, None,
                {fw: run for fw in frameworks})


# Baselines: not registered models (no weights, no twins), built here by name
BASELINES = {"bicubic": _bicubic_task, "bm3d": _bm3d_task}
FRAMEWORK_FREE = ("bm3d",)  # baselines that run in NumPy: their framework columns are one computation


def upsampler(framework: str, kind: str, scale: int):
    """fn(x [H, W, C] float32) -> [H*s, W*s, C] with the named bicubic, in the framework."""
    if framework == "jax":
        import jax
        import jax.numpy as jnp
        import jrestore.ops.resize as R
        f = jax.jit(lambda x: getattr(R, UPSAMPLERS[kind])(x, scale=scale))
        return lambda x: np.asarray(f(jnp.asarray(x)[None]))[0]
    import torch
    import torch_ref.ops.resize as T
    f = getattr(T, UPSAMPLERS[kind])

    def run(x):
        with torch.no_grad():
            return f(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None], scale=scale)[0] \
                .permute(1, 2, 0).numpy()
    return run


def _jax_forward(model, spec, kwargs, state_dict, source, scale, extras, upsample, jm):
    from jrestore.convert import load_torch_state_dict

    if state_dict is not None:
        load_torch_state_dict(jm, state_dict, source=source)
    return live_forward(jm, spec, kwargs, scale, extras, upsample)


def live_forward(jm, spec: ModelSpec, kwargs: dict, scale: int, extras: Mapping | None = None,
                 upsample: str = "matlab"):
    """fn(x [H, W, C]) -> restored, running `jm` in eval mode with its CURRENT parameters (extras: the
    values of the spec's extra inputs, in user units): the state is
    split on every call (cheap) and passed to one jitted function, so a trainer can update the model in
    place (nnx.update) and validate without recompiling."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    jm.eval()
    graphdef = nnx.graphdef(jm)
    if spec.kind == "cs":
        from jrestore.ops.cs_blocks import blocks_to_image, image_to_blocks
        bs = kwargs.get("block_size", 33)
        step = jax.jit(lambda p, b: nnx.merge(graphdef, p)(b)[0])

        def run_cs(x):
            params = nnx.state(jm)
            rows, meta = image_to_blocks(jnp.asarray(x[..., 0]), bs)
            out = _chunked(lambda b: np.asarray(step(params, jnp.asarray(b))), np.asarray(rows), bs)
            return np.asarray(blocks_to_image(jnp.asarray(out), meta))[..., None]
        return run_cs
    extra = tuple(jnp.asarray(a) for a in _extra_arrays(spec, extras or {}))
    step = jax.jit(lambda p, x, *e: nnx.merge(graphdef, p)(x, *e))
    up = upsampler("jax", upsample, scale) if spec.input_transform == "bicubic_upsample" else (lambda x: x)
    return lambda x: np.asarray(step(nnx.state(jm), jnp.asarray(up(x))[None], *extra))[0]


def task_from_model(name: str, jm, kwargs: dict, *, scale: int = 1, sigma=None, upsample: str = "matlab",
                    extras: Mapping | None = None) -> Task:
    """A JAX-only Task around a live jrestore model (validation during training)."""
    spec = get_spec(name)
    channels = _channels(name, spec, kwargs)
    fwd = {"jax": live_forward(jm, spec, kwargs, scale, _extra_values(name, spec, sigma, extras), upsample)}
    return Task(name, spec.kind, channels, scale, spec.align(kwargs), spec.halo(kwargs), kwargs, None, fwd)


def _torch_forward(model, spec, kwargs, state_dict, source, scale, extras, upsample, _):
    import torch
    import torch_ref.models as tmodels

    tm = tmodels.get(model, **kwargs)
    if state_dict is not None:
        try:
            tm.load_state_dict({k: v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
                                for k, v in state_dict.items()})
        except RuntimeError as err:  # the jax side has already named the first bad key; keep torch's own text
            raise ValueError(f"{source}: does not fit torch_ref {type(tm).__name__}: {err}") from None
    tm.eval()
    if spec.kind == "cs":
        from torch_ref.ops.cs_blocks import blocks_to_image, image_to_blocks
        bs = kwargs.get("block_size", 33)

        def run_cs(x):
            with torch.no_grad():
                rows, meta = image_to_blocks(torch.from_numpy(np.ascontiguousarray(x[..., 0])), bs)
                out = _chunked(lambda b: tm(torch.from_numpy(b).permute(0, 3, 1, 2))[0].permute(0, 2, 3, 1).numpy(),
                               rows.numpy(), bs)
                return blocks_to_image(torch.from_numpy(out), meta).numpy()[..., None]
        return run_cs
    extra = tuple(torch.from_numpy(a) for a in _extra_arrays(spec, extras))
    up = upsampler("torch", upsample, scale) if spec.input_transform == "bicubic_upsample" else (lambda x: x)

    def run(x):
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(up(x).transpose(2, 0, 1)))[None]
            return tm(t, *extra)[0].permute(1, 2, 0).numpy()
    return run


def _chunked(step, rows: np.ndarray, bs: int) -> np.ndarray:
    """rows [N, bs*bs] -> step on [n, bs, bs, 1] chunks of one size (the last zero-padded) -> [N, bs*bs]."""
    n = rows.shape[0]
    size = min(n, CS_CHUNK)
    out = []
    for start in range(0, n, size):
        chunk = rows[start:start + size]
        pad = size - chunk.shape[0]
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad, chunk.shape[1]), chunk.dtype)])
        res = np.asarray(step(chunk.reshape(size, bs, bs, 1)))
        out.append(res.reshape(size, bs * bs)[:size - pad])
    return np.concatenate(out)
