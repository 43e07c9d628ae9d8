"""One spec per model: everything jrestore's commands need to know about a model besides its code.

A model is three things: its JAX module (jrestore/models/<family>.py), its PyTorch twin
(torch_ref/models/<family>.py) and its spec (jrestore/core/models/<family>.py, `SPECS = (ModelSpec(...), ...)`).
The spec is framework-neutral, so torch_ref and the JAX side read the same one. Every table the commands use
is derived from the specs: inference's task contract (kind, channels, scale, halo, alignment, extra inputs),
the converter's argument inference and foreign key layouts, the parity cases `verify` runs, the bench's
sizes and the trainer's default recipe. A plugin (see jrestore.core.plugins) calls `register_spec` for its
own model and is then used exactly like a built-in one.

    from jrestore.core.spec import get_spec
    spec = get_spec("ffdnet")
    spec.kind, spec.channels({"in_nc": 3}), [e.name for e in spec.extra_inputs]  # 'denoise', 3, ['sigma']
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

import numpy as np

__all__ = ["ModelSpec", "ExtraInput", "ParityCase", "BenchEntry", "WeightShapes", "MissingWeight",
           "register_spec", "get_spec", "sr_images", "restorer_spec", "all_specs", "KINDS", "INPUT_TRANSFORMS", "MIN_SIZE"]

KINDS = ("cs", "denoise", "sr")  # what a restorer does; None marks discriminators and feature extractors
# "bicubic_upsample": the network maps the MATLAB-bicubic upsampled LR image (SRCNN), not the LR image itself
INPUT_TRANSFORMS = ("bicubic_upsample",)
# Below this, a 3x3-conv network sees mostly its own zero padding: inference refuses smaller images.
MIN_SIZE = 8


class MissingWeight(KeyError):
    """A key the named model must have is absent: the state dict is not that model's."""


class WeightShapes:
    """Key -> shape view of a PyTorch-layout state dict ('module.' stripped), for `ModelSpec.weights_rule`.

    shapes("conv1.weight") -> (64, 1, 9, 9); a missing key raises MissingWeight.
    """

    def __init__(self, state_dict: Mapping):
        self.shapes = {(k[len("module."):] if k.startswith("module.") else k): tuple(v.shape)
                       for k, v in state_dict.items()}

    def __call__(self, key: str) -> tuple:
        if key not in self.shapes:
            raise MissingWeight(key)
        return self.shapes[key]

    def indices(self, pattern: str) -> list[int]:
        """Sorted distinct integers captured by `pattern` (a regex with one group) over all keys."""
        rx = re.compile(pattern)
        return sorted({int(m.group(1)) for k in self.shapes if (m := rx.fullmatch(k))})

    def any(self, pattern: str) -> bool:
        rx = re.compile(pattern)
        return any(rx.fullmatch(k) for k in self.shapes)


@dataclass(frozen=True)
class ExtraInput:
    """An input beyond the image, e.g. FFDNet's noise level.

    name:    the command-line flag (--sigma), the exported function's argument and the train config key
             (`task.<name>`);
    scale:   the network receives value * scale (users give sigma on the 0-255 scale, FFDNet takes sigma/255);
    shape:   per-image NHWC shape: (1, 1, 1) gives [B, 1, 1, 1];
    example: a typical value, in the user's units, for checks and examples.
    """

    name: str
    scale: float = 1.0
    shape: tuple = (1, 1, 1)
    example: float = 0.0
    help: str = ""

    def array(self, value: float, batch: int) -> np.ndarray:
        """[batch, *shape] float32 filled with value * scale."""
        return np.full((batch, *self.shape), float(value) * self.scale, np.float32)


@dataclass(frozen=True)
class ParityCase:
    """How `verify` and the parity suite exercise one model against its PyTorch twin.

    small:  constructor kwargs for the fast case; full: the default-size case (usually {}).
    inputs(rng, full) -> tuple of NHWC float32 NumPy arrays (rank-4 arrays go to torch as NCHW).
    train_mode: whether the model has a meaningful train mode (BatchNorm); eval is always checked.
    grad: whether it has parameters to compare gradients of. atol: the output tolerance (None:
    jrestore.parity.tolerances.MODEL; the parity layer resolves it, so torch_ref never imports it).
    """

    small: Mapping
    inputs: Callable[[np.random.Generator, bool], tuple]
    full: Mapping = field(default_factory=dict)
    train_mode: bool = True
    grad: bool = True
    atol: Optional[float] = None


@dataclass(frozen=True)
class BenchEntry:
    """One benchmark entry: a batch of [batch, h, w, C] inputs (input_hw in train mode), targets scale x larger.

    task: None takes the spec's kind; 'gan' pairs the generator with the SRGAN discriminator (kwargs d_*).
    recipe: the train.configs recipe whose loss and optimizer the train step uses (None: MSE, Adam 1e-4).
    hw_multiple: spatial sizes stay multiples of this when --quick scales them.
    infer_upsampled: infer feeds the target-sized image (the spec's input_transform is bicubic_upsample).
    """

    name: str
    kwargs: Mapping
    batch: int
    input_hw: tuple
    channels: int = 1
    scale: int = 1
    task: Optional[str] = None
    recipe: Optional[str] = None
    hw_multiple: int = 1


def _no_halo(kw: dict) -> int:
    return 0


def _no_align(kw: dict) -> int:
    return 1


@dataclass(frozen=True)
class ModelSpec:
    """What jrestore knows about model `name` besides its code. Functions of `kw` get the constructor kwargs
    the user gave (missing ones mean the constructor's defaults).

    kind             'cs' (image -> measurements -> reconstruction), 'denoise', 'sr', or None (not a restorer)
    channels_arg     constructor argument holding the image channels (None: fixed at image_channels)
    scale_arg        constructor argument holding the SR factor (None: 1, or fixed by the weights)
    defaults         constructor arguments the commands use when the user gives none (beyond the constructor's)
    extra_inputs     inputs beyond the image, in call order after it (FFDNet's noise level)
    input_transform  None, or one of INPUT_TRANSFORMS
    halo(kw)         input pixels of context one output pixel depends on, per side; None for global models
                     (self-attention, deep U-Nets), which tile only approximately
    align(kw)        input sizes (and tile offsets) must be multiples of this; inputs are edge-padded to it
    needs_weights    False for models without learned parameters (classical ISTA / ADMM)
    weights_rule     WeightShapes -> constructor arguments a PyTorch-layout state dict determines
    key_aliases      ((regex, replacement or None), ...): known foreign checkpoint layouts mapped to ours; the
                     first fullmatching regex renames a key (re.sub syntax), None drops it
    state_rule       (state dict, constructor kwargs) -> the state dict the model built with those kwargs loads:
                     a re-parameterisation by rule (FSRCNN's prelu_split of a PReLU checkpoint); None: as read
    example_hw(kw)   (h, w) the model needs (CS blocks, discriminators' fixed sizes); None: any size works
    parity           the ParityCase `verify` and the parity suite run; bench: its BenchEntry tuple
    recipe           the train.configs recipe training starts from (None: the generic recipe for its kind)
    quant_stack(kw)  the jrestore.core.quantize.QuantStack `jrestore quantize` runs in int8 (None: not quantisable);
                     it raises ValueError for constructor options it cannot quantise
    """

    name: str
    kind: Optional[str]
    channels_arg: Optional[str] = None
    scale_arg: Optional[str] = None
    image_channels: int = 1
    defaults: Mapping = field(default_factory=dict)
    extra_inputs: tuple = ()
    input_transform: Optional[str] = None
    halo: Callable[[dict], Optional[int]] = _no_halo
    align: Callable[[dict], int] = _no_align
    needs_weights: bool = True
    weights_rule: Optional[Callable[[WeightShapes], dict]] = None
    key_aliases: tuple = ()
    state_rule: Optional[Callable[[Mapping, Mapping], dict]] = None
    example_hw: Optional[Callable[[dict], tuple]] = None
    parity: Optional[ParityCase] = None
    bench: tuple = ()
    recipe: Optional[str] = None
    quant_stack: Optional[Callable[[dict], object]] = None

    def __post_init__(self):
        if not (isinstance(self.name, str) and re.fullmatch(r"[a-z][a-z0-9_]*", self.name)):
            raise ValueError(f"ModelSpec.name: expected a lower-case identifier, got {self.name!r}")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"ModelSpec {self.name}: kind must be one of {KINDS} or None, got {self.kind!r}")
        if self.input_transform is not None and self.input_transform not in INPUT_TRANSFORMS:
            raise ValueError(f"ModelSpec {self.name}: input_transform must be one of {INPUT_TRANSFORMS} or None, "
                             f"got {self.input_transform!r}")
        if not all(isinstance(e, ExtraInput) for e in self.extra_inputs):
            raise ValueError(f"ModelSpec {self.name}: extra_inputs must be ExtraInput objects")
        if self.parity is not None and not isinstance(self.parity, ParityCase):
            raise ValueError(f"ModelSpec {self.name}: parity must be a ParityCase or None")
        if not all(isinstance(b, BenchEntry) for b in self.bench):
            raise ValueError(f"ModelSpec {self.name}: bench must be a tuple of BenchEntry")

    def kwargs(self, given: Mapping | None = None) -> dict:
        """The constructor arguments to build with: the spec's defaults, overridden by `given`."""
        return {**self.defaults, **(given or {})}

    def channels(self, kw: Mapping) -> int:
        """Image channels of the model built with `kw` (the constructor default when `kw` lacks it: 1)."""
        return int(kw.get(self.channels_arg, self.image_channels)) if self.channels_arg else self.image_channels

    def scale(self, kw: Mapping) -> int:
        return int(kw.get(self.scale_arg, 1)) if self.scale_arg else 1

    def infer_kwargs(self, state_dict: Mapping) -> dict:
        """Constructor arguments `state_dict` (PyTorch layout) determines; {} without a rule or when the state
        dict lacks the model's keys (loading then names the first mismatching key)."""
        if self.weights_rule is None:
            return {}
        try:
            out = self.weights_rule(WeightShapes(state_dict))
        except (MissingWeight, IndexError, ValueError):
            return {}
        return {k: (int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v)
                for k, v in out.items()}

    def rename_keys(self, state_dict: Mapping) -> dict:
        """`state_dict` without nn.DataParallel's 'module.' prefix and with the spec's key_aliases applied
        (dropped keys removed)."""
        rules = [(re.compile(rx), repl) for rx, repl in self.key_aliases]
        out = {}
        for key, value in state_dict.items():
            key = key[len("module."):] if key.startswith("module.") else key  # nn.DataParallel's prefix
            rule = next(((rx, repl) for rx, repl in rules if rx.fullmatch(key)), None)
            if rule is None:
                out[key] = value
            elif rule[1] is not None:
                out[rule[0].sub(rule[1], key)] = value
        return out

    def adapt_state(self, state_dict: Mapping, kw: Mapping) -> dict:
        """`state_dict` (renamed, PyTorch layout) as the model built with constructor kwargs `kw` loads it:
        the spec's state_rule applied (NumPy values where it re-parameterises), else unchanged."""
        return dict(state_dict) if self.state_rule is None else self.state_rule(state_dict, kw)

    def example_inputs(self, kw: Mapping, rng: np.random.Generator, batch: int = 1) -> tuple:
        """Random NHWC float32 inputs in [0, 1] the model built with `kw` accepts, extra inputs included."""
        # any size works: 16 is even and a multiple of 2**4 (pooling networks)
        h, w = self.example_hw(kw) if self.example_hw is not None else (16, 16)
        x = rng.uniform(0, 1, (batch, h, w, self.channels(kw))).astype(np.float32)
        return (x, *(e.array(e.example, batch) for e in self.extra_inputs))


_SPECS: dict[str, ModelSpec] = {}
_BUILTINS_LOADED = False


def _load_builtins() -> None:
    """Import every family module of jrestore.core.models and register its SPECS (once)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    import jrestore.core.models as family_package

    for info in sorted(pkgutil.iter_modules(family_package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{family_package.__name__}.{info.name}")
        for spec in getattr(module, "SPECS", ()):
            _add(spec)


def _add(spec: ModelSpec) -> ModelSpec:
    if not isinstance(spec, ModelSpec):
        raise ValueError(f"register_spec: expected a ModelSpec, got {type(spec).__name__}")
    if spec.name in _SPECS:
        raise ValueError(f"model spec {spec.name!r} is already registered")
    _SPECS[spec.name] = spec
    return spec


def register_spec(spec: ModelSpec) -> ModelSpec:
    """Register a plugin's spec (built-in ones are found on their own); a duplicate name is a ValueError."""
    _load_builtins()
    return _add(spec)


def all_specs() -> dict[str, ModelSpec]:
    """Every registered spec, built-ins and plugins, by name (sorted)."""
    _load_builtins()
    return dict(sorted(_SPECS.items()))


def get_spec(name: str) -> ModelSpec:
    """The spec of model `name`; ValueError listing the registered names for anything else."""
    specs = all_specs()
    if name not in specs:
        raise ValueError(f"model: {name!r} is not a known model; expected one of {list(specs)}")
    return specs[name]


def restorer_spec(name: str) -> ModelSpec:
    """The spec of an image-restoration model; ValueError naming the restorers for anything else."""
    specs = all_specs()
    restorers = [n for n, s in specs.items() if s.kind is not None]
    spec = specs.get(name)
    if spec is None or spec.kind is None:
        why = "is not an image-restoration model" if spec is not None else "is not a known model"
        raise ValueError(f"model: {name!r} {why}; expected one of {restorers} or 'bicubic'")
    return spec


def sr_images(rng: np.random.Generator, shape) -> np.ndarray:
    """Parity inputs for SR networks: float32 values mostly in [0, 1] with a few outside it, as real SR outputs
    and pre-upsampled inputs have."""
    return rng.uniform(-0.1, 1.1, shape).astype(np.float32)
