"""Knowledge distillation: a frozen, trained teacher guides the student being trained (seed 004 §3.2: a large
teacher network guides a small student, "temperature T = 3, student PSNR +0.3 dB"), in JAX and in PyTorch.

    loss = alpha * task(student, target)                       the recipe's own loss (train/objective.py)
         + beta * D_out(student output, teacher output)        output distillation
         + feature_weight * mean over taps of D_feat(student tap, teacher tap)   feature distillation

Config (`distill` section, `distill_section()` gives the defaults; a recipe without it trains as before):
    teacher.name / .weights / .kwargs   any registered model and its trained weights (a file, a training
                                        workdir, or the alias `dncnn_25` = the official DnCNN-S sigma 25 under the
                                        reference data), loaded by jrestore.load / torch_ref.load with the kwargs
                                        as constructor overrides
    alpha, beta, feature_weight         the three weights (>= 0); with beta = feature_weight = 0 the teacher is
                                        not even loaded and the run is the plain recipe scaled by alpha
    output_loss, feature_loss           D_out / D_feat: 'mse', 'l1' or 'cwd'
    temperature                         T, used by 'cwd' (below)
    taps                                ("student_path=teacher_path", ...) or ("path", ...) for the same path in
                                        both: module paths as in the state dict (DnCNN: "model.19" is the output
                                        of the student's last body ReLU; a teacher's "model.31" is that of the
                                        17-layer DnCNN). The two tensors must have the same shape (no adapter).

What the temperature does. A denoiser's output is a regression, with no class softmax to soften. Hinton et al.
(2015, §2.1) show that matching softened softmaxes, with the loss scaled by T^2, tends to matching the logits by
squared error as T grows: for a regression output, 'mse' (or 'l1') IS that high-temperature limit, and T has
nothing left to act on there. T acts where a softmax is taken: 'cwd', the channel-wise distillation of dense
predictions (Shu et al., ICCV 2021): for each sample and channel, the map is turned into a distribution over
pixels, softmax(map / T) over H x W, and

    cwd(s, t) = T^2 * mean over (batch, channel) of KL(softmax(t / T) || softmax(s / T))

(T^2 keeps its gradient's size independent of T, as in Hinton et al.). A larger T spreads the distribution
(the student copies where a feature is active overall), a smaller one concentrates it on the strongest pixels.
A temperature other than 1 with no active 'cwd' term would silently do nothing, so it is refused.

The teacher is frozen in both frameworks: in eval mode (BatchNorm uses its running statistics, which do not
change), its outputs under stop_gradient / torch.no_grad, its weights an argument of the JAX step (never in
the optimiser state or the trained params) and `requires_grad=False` in torch, outside the optimiser.
"""
from __future__ import annotations

import math
from pathlib import Path

__all__ = ["CRITERIA", "TEACHER_ALIASES", "distill_section", "Distillation", "load_teachers",
           "jax_call_with_taps", "torch_call_with_taps", "jax_criterion", "torch_criterion"]

CRITERIA = ("mse", "l1", "cwd")
# distill.teacher.weights aliases under the reference-data folder (jrestore.data.paths.data_dir)
TEACHER_ALIASES = {"dncnn_25": "denoise/weights/dncnn_25.pth"}


def distill_section(**overrides):
    """The `distill` config section with its defaults (no teacher, inactive), `overrides` applied."""
    from ml_collections import ConfigDict

    section = ConfigDict({"teacher": ConfigDict({"name": "", "weights": "", "kwargs": ConfigDict()}),
                          "alpha": 1.0, "beta": 0.0, "feature_weight": 0.0, "output_loss": "mse",
                          "feature_loss": "mse", "temperature": 1.0, "taps": ()})
    for key, value in overrides.items():
        section[key] = value
    return section


class Distillation:
    """The checked `distill` section of a config (no file is read here): weights, criteria, temperature and
    the (student path, teacher path) pairs of the taps."""

    def __init__(self, cfg):
        from jrestore.core.spec import all_specs

        dc = cfg.distill
        for key in ("alpha", "beta", "feature_weight"):
            value = dc[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"distill.{key}: expected a number >= 0, got {value!r}")
        self.alpha, self.beta, self.feature_weight = float(dc.alpha), float(dc.beta), float(dc.feature_weight)
        for key in ("output_loss", "feature_loss"):
            if dc[key] not in CRITERIA:
                raise ValueError(f"distill.{key}: expected one of {list(CRITERIA)}, got {dc[key]!r}")
        self.output_loss, self.feature_loss = str(dc.output_loss), str(dc.feature_loss)
        t = dc.temperature
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t > 0):
            raise ValueError(f"distill.temperature: expected a number > 0, got {t!r}")
        self.temperature = float(t)
        self.taps = tuple(_tap_pair(i, tap) for i, tap in enumerate(dc.taps))
        if self.feature_weight and not self.taps:
            raise ValueError(f"distill.taps: distill.feature_weight is {self.feature_weight:g}, so feature "
                             f"distillation needs taps such as ('model.19=model.31',); got none")
        self.output_active = self.beta > 0
        self.feature_active = self.feature_weight > 0
        self.active = self.output_active or self.feature_active
        self.teacher_name = str(dc.teacher.name)
        self.teacher_weights = str(dc.teacher.weights)
        self.teacher_kwargs = dict(dc.teacher.kwargs)
        if not self.active:
            if not self.alpha:
                raise ValueError("distill.alpha: with distill.beta and distill.feature_weight 0 the task loss is "
                                 "all there is to train; expected alpha > 0, got 0")
            return  # a no-distillation baseline of the same recipe: the teacher is never loaded
        if cfg.task.kind == "cs" or cfg.gan.weight:
            what = "task.kind 'cs'" if cfg.task.kind == "cs" else f"gan.weight {cfg.gan.weight:g}"
            raise ValueError(f"distill: distillation trains single-output restorers with the plain step; got {what} "
                             f"(set distill.beta=0 and distill.feature_weight=0)")
        uses_t = ((self.output_active and self.output_loss == "cwd")
                  or (self.feature_active and self.feature_loss == "cwd"))
        if self.temperature != 1 and not uses_t:
            raise ValueError(f"distill.temperature: only the 'cwd' criterion uses a temperature (for 'mse' / 'l1' "
                             f"the output is matched as it is, Hinton's high-temperature limit), and no active term "
                             f"uses 'cwd'; expected 1.0 or an active 'cwd' term, got {self.temperature:g}")
        specs = {n: s for n, s in all_specs().items() if s.kind is not None}
        if self.teacher_name not in specs:
            raise ValueError(f"distill.teacher.name: expected a registered restorer, one of {sorted(specs)}, "
                             f"got {self.teacher_name!r}")
        if specs[self.teacher_name].kind != cfg.task.kind:
            raise ValueError(f"distill.teacher.name: the teacher must do the student's task ({cfg.task.kind!r}); "
                             f"{self.teacher_name!r} is a {specs[self.teacher_name].kind!r} model")
        if not self.teacher_weights:
            raise ValueError(f"distill.teacher.weights: the teacher must be trained: expected a weights file, a "
                             f"training workdir or one of {sorted(TEACHER_ALIASES)}, got ''")

    def weights_path(self) -> str:
        """distill.teacher.weights with its alias resolved; a missing file is one ValueError."""
        path = self.teacher_weights
        if path in TEACHER_ALIASES:
            from jrestore.data.paths import data_dir
            path = str(data_dir(required=True) / TEACHER_ALIASES[path])
        base = Path(path.rsplit(":best", 1)[0] if path.endswith(":best") else path).expanduser()
        if not base.exists():
            raise ValueError(f"distill.teacher.weights: expected a weights file or training workdir, got {path!r} "
                             f"(no such file)")
        return path


def _tap_pair(index: int, tap) -> tuple[str, str]:
    if not isinstance(tap, str) or not tap or tap.count("=") > 1 or "" in tap.split("="):
        raise ValueError(f"distill.taps[{index}]: expected 'student_path' or 'student_path=teacher_path' "
                         f"(e.g. 'model.19=model.31'), got {tap!r}")
    student, _, teacher = tap.partition("=")
    return student, teacher or student


def load_teachers(dist: Distillation, frameworks=("jax", "torch")) -> dict:
    """{framework: the teacher model in eval mode} from distill.teacher: jrestore.load / torch_ref.load with
    teacher.kwargs as constructor overrides. A file that does not fit the named model is one ValueError
    naming distill.teacher.weights."""
    path = dist.weights_path()
    out = {}
    for framework in frameworks:
        if framework == "jax":
            from jrestore import load
        else:
            from torch_ref import load
        try:
            model = load(path, dist.teacher_name, **dist.teacher_kwargs)
        except (ValueError, FileNotFoundError) as err:
            raise ValueError(f"distill.teacher.weights: {path} is not a {dist.teacher_name!r} teacher with "
                             f"kwargs {dist.teacher_kwargs}: {err}") from None
        if framework == "torch":
            for p in model.parameters():
                p.requires_grad_(False)
        out[framework] = model
    return out


# ---- taps ----------------------------------------------------------------------------------------------------

def _parent_and_key(module, path: str, who: str):
    """(the container holding the submodule at dotted `path`, its attribute name or list index)."""
    parts = path.split(".")
    node = module
    for depth, part in enumerate(parts):
        try:
            child = node[int(part)] if part.isdigit() else getattr(node, part)
        except (AttributeError, IndexError, TypeError, KeyError):
            raise ValueError(f"distill.taps: the {who} ({type(module).__name__}) has no submodule "
                             f"{'.'.join(parts[:depth + 1])!r} (of tap {path!r})") from None
        if depth == len(parts) - 1:
            if not callable(child):
                raise ValueError(f"distill.taps: {path!r} of the {who} is not a layer (a "
                                 f"{type(child).__name__}); expected a submodule path such as 'model.19'")
            return node, (int(part) if part.isdigit() else part)
        node = child


class _Recorder:
    """Stands in for a submodule during one call and keeps its output."""

    def __init__(self, inner, sink: list):
        self.inner, self.sink = inner, sink

    def __call__(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        self.sink.append(out)
        return out


def jax_call_with_taps(module, paths, *inputs, who: str = "student"):
    """(module(*inputs), [the output of the submodule at each path]) for an NNX module. Each tapped submodule
    is swapped for a recorder for this call only (inside a traced function, on a module merged there), so
    the module's state and paths are unchanged afterwards."""
    swapped = []
    sinks = []
    try:
        for path in paths:
            parent, key = _parent_and_key(module, path, who)
            inner = parent[key] if isinstance(key, int) else getattr(parent, key)
            sink = []
            recorder = _Recorder(inner, sink)
            if isinstance(key, int):
                parent[key] = recorder
            else:
                setattr(parent, key, recorder)
            swapped.append((parent, key, inner))
            sinks.append(sink)
        out = module(*inputs)
    finally:
        for parent, key, inner in reversed(swapped):
            if isinstance(key, int):
                parent[key] = inner
            else:
                setattr(parent, key, inner)
    return out, [_one_call(sink, path, who) for sink, path in zip(sinks, paths)]


def torch_call_with_taps(module, paths, *inputs, who: str = "student"):
    """The same for a torch module, through forward hooks on the named submodules."""
    named = dict(module.named_modules())
    sinks, hooks = [], []
    try:
        for path in paths:
            if path not in named:
                _parent_and_key(module, path, who)  # raises, naming the missing part
            sink = []
            hooks.append(named[path].register_forward_hook(lambda m, a, out, sink=sink: sink.append(out)))
            sinks.append(sink)
        out = module(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return out, [_one_call(sink, path, who) for sink, path in zip(sinks, paths)]


def _one_call(sink: list, path: str, who: str):
    if len(sink) != 1:
        raise ValueError(f"distill.taps: {path!r} of the {who} ran {len(sink)} times in one forward pass; "
                         f"expected a submodule called once")
    return sink[0]


def check_pair(student_shape, teacher_shape, what: str) -> None:
    """Distillation compares tensors element by element: their shapes must agree."""
    if tuple(student_shape) != tuple(teacher_shape):
        raise ValueError(f"{what}: the student's {list(student_shape)} and the teacher's {list(teacher_shape)} "
                         f"differ; expected the same shape (taps: the same number of channels; there is no "
                         f"adapter)")


# ---- criteria (NHWC in JAX, NCHW in torch) --------------------------------------------------------------------

def jax_criterion(name: str, student, teacher, temperature: float):
    """D(student, teacher) for NHWC arrays; the teacher's value carries no gradient."""
    import jax
    import jax.numpy as jnp

    teacher = jax.lax.stop_gradient(teacher)
    if name == "mse":
        return jnp.mean((student - teacher) ** 2)
    if name == "l1":
        return jnp.mean(jnp.abs(student - teacher))
    b, h, w, c = student.shape  # cwd: a distribution over the H x W pixels of each (sample, channel)
    s = jnp.transpose(student, (0, 3, 1, 2)).reshape(b, c, h * w) / temperature
    t = jnp.transpose(teacher, (0, 3, 1, 2)).reshape(b, c, h * w) / temperature
    log_pt, log_ps = jax.nn.log_softmax(t, axis=-1), jax.nn.log_softmax(s, axis=-1)
    kl = jnp.sum(jnp.exp(log_pt) * (log_pt - log_ps), axis=-1)
    return temperature ** 2 * jnp.mean(kl)


def torch_criterion(name: str, student, teacher, temperature: float):
    """D(student, teacher) for NCHW tensors, as jax_criterion."""
    import torch

    teacher = teacher.detach()
    if name == "mse":
        return torch.mean((student - teacher) ** 2)
    if name == "l1":
        return torch.mean(torch.abs(student - teacher))
    b, c = student.shape[:2]
    s = student.reshape(b, c, -1) / temperature
    t = teacher.reshape(b, c, -1) / temperature
    log_pt, log_ps = torch.log_softmax(t, dim=-1), torch.log_softmax(s, dim=-1)
    kl = torch.sum(torch.exp(log_pt) * (log_pt - log_ps), dim=-1)
    return temperature ** 2 * torch.mean(kl)
