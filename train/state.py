"""Creating the training state: the networks as (graphdef, pure dicts), the optimisers and the state pytree
the pure step (train/step.py) maps to the next one.

    setup = create_train_state(cfg)            # or create_train_state(cfg, initial_state=torch_state_dict)
    setup.state                                # {"params", "rest", "opt_state"[, "ema"][, "d_params", "d_rest",
                                               #  "d_opt_state"]}: host arrays, what checkpoints hold
    setup.generator.merge(params, rest)        # an NNX module holding those values

`rest` holds BatchNorm statistics and other non-trained variables. The discriminator (SRGAN, cfg.gan.weight > 0)
and the frozen networks of the loss (the perceptual VGG, a distillation teacher) are built here too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Network", "TrainSetup", "create_train_state", "model_kwargs", "initial_torch_state",
           "CS_MATRIX_ALIASES"]

# `task.cs_matrices` aliases under the reference-data folder
CS_MATRIX_ALIASES = {"set11_matrices": "cs/ista_net/sampling_matrix"}


def model_kwargs(cfg) -> dict:
    """cfg.model.kwargs plus what the task adds: the CS sampling matrices Phi and Qinit (official .mat files;
    Phi alone with `learn_phi`, where it is the trained Phi's initial value)."""
    kwargs = dict(cfg.model.kwargs)
    if cfg.task.kind == "cs" and cfg.task.get("cs_matrices"):
        from jrestore.data.cs_matrices import load_cs_matrices
        folder = cfg.task.cs_matrices
        if folder in CS_MATRIX_ALIASES:
            from jrestore.data.paths import data_dir
            folder = data_dir(required=True) / CS_MATRIX_ALIASES[folder]
        kwargs["phi"], kwargs["qinit"] = load_cs_matrices(folder, kwargs.get("cs_ratio", 25))
        if kwargs.get("learn_phi"):  # a learned Phi starts from the official one; Qinit is then its transpose
            del kwargs["qinit"]
    return kwargs


def initial_torch_state(cfg) -> dict:
    """The initial weights as a torch state dict: torch_ref's own init under cfg.init.seed (so a run from
    scratch starts from PyTorch's distribution), or a weights file (which needs no torch when it is
    .safetensors or .mat)."""
    if cfg.init.weights:
        from jrestore.convert.checkpoints import load_state_dict_file
        return load_state_dict_file(cfg.init.weights, what="init.weights")
    import torch
    import torch_ref.models as tmodels

    torch.manual_seed(int(cfg.init.seed))
    return tmodels.get(cfg.model.name, **model_kwargs(cfg)).state_dict()


def _torch_installed() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Network:
    """An NNX module split into its graph and the shapes of its trained (`params`) and other (`rest`)
    variables, so that the step works on pure dicts and merges a module only inside the traced function."""

    graphdef: Any
    params: Any  # nnx.State: the template that pure dicts are poured into
    rest: Any

    @classmethod
    def split(cls, module) -> tuple["Network", dict, dict]:
        """(network, params, rest) with params / rest as pure dicts of arrays."""
        from flax import nnx
        graphdef, params, rest = nnx.split(module, nnx.Param, ...)
        return cls(graphdef, params, rest), nnx.to_pure_dict(params), nnx.to_pure_dict(rest)

    def states(self, params: dict, rest: dict):
        """(params, rest) as nnx.State objects holding the given pure dicts."""
        from flax import nnx
        p, r = nnx.clone(self.params), nnx.clone(self.rest)
        nnx.replace_by_pure_dict(p, params)
        nnx.replace_by_pure_dict(r, rest)
        return p, r

    def merge(self, params: dict, rest: dict):
        """A new module holding params and rest."""
        from flax import nnx
        return nnx.merge(self.graphdef, *self.states(params, rest), copy=True)

    @staticmethod
    def rest_of(module, like: dict) -> dict:
        """The module's non-trained variables (updated by a train-mode forward) as a pure dict, each leaf in
        the dtype of `like`'s (a bfloat16 forward does not change the stored statistics' dtype)."""
        import jax
        from flax import nnx
        _, _, rest = nnx.split(module, nnx.Param, ...)
        return jax.tree.map(lambda new, old: new.astype(old.dtype), nnx.to_pure_dict(rest), like)


@dataclass
class TrainSetup:
    """Everything the step and the loop need besides the data (see the module docstring)."""

    model: Any  # the NNX generator holding the initial values (validation and export clone it)
    kwargs: dict  # its constructor arguments (model_kwargs)
    generator: Network
    tx: Any  # optax GradientTransformation
    schedule: Callable  # update count -> learning rate
    state: dict
    perceptual_def: Any = None  # graphdef of the frozen perceptual network, or None
    perceptual: Any = None  # its nnx.State: an argument of the step, not baked-in constants
    discriminator: Network | None = None
    d_tx: Any = None
    teacher_def: Any = None  # graphdef of the frozen distillation teacher (eval mode), or None
    teacher: Any = None  # its nnx.State: like `perceptual`, a step argument, never trained

    def frozen(self):
        """The step's `frozen` argument: {"perceptual": state, "teacher": state} (those present), or None."""
        out = {k: v for k, v in (("perceptual", self.perceptual), ("teacher", self.teacher)) if v is not None}
        return out or None


def create_train_state(cfg, initial_state: dict | None = None) -> TrainSetup:
    """The networks, optimisers and initial state for cfg. initial_state: a torch-layout state dict for the
    generator; None: cfg.init.weights, else torch_ref's seeded init (jrestore's own init under
    nnx.Rngs(init.seed) where torch is not installed)."""
    import jax
    from flax import nnx
    import jrestore.models as jmodels
    from jrestore.convert import load_torch_state_dict
    from train.objective import build_perceptual
    from train.optim import make_optax

    kwargs = model_kwargs(cfg)
    if initial_state is None and not cfg.init.weights and not _torch_installed():
        # torch is the optional `torch` extra: without it a run from scratch keeps jrestore's own init
        # (the same PyTorch-default distributions, drawn from nnx.Rngs(init.seed), not torch's generator)
        model = jmodels.get(cfg.model.name, rngs=nnx.Rngs(int(cfg.init.seed)), **kwargs)
    else:
        model = jmodels.get(cfg.model.name, **kwargs)
        state = initial_state if initial_state is not None else initial_torch_state(cfg)
        load_torch_state_dict(model, state, source="initial weights")
    model.train()
    generator, params, rest = Network.split(model)
    tx, schedule = make_optax(cfg, int(cfg.train.steps))
    state = {"params": params, "rest": rest, "opt_state": tx.init(params)}
    setup = TrainSetup(model=model, kwargs=kwargs, generator=generator, tx=tx, schedule=schedule, state=state)
    if cfg.gan.weight:  # SRGAN: the discriminator, its optimiser and state (train/gan.py)
        from train.gan import d_config, initial_discriminator_state
        d_model = jmodels.get(cfg.gan.discriminator.name, **dict(cfg.gan.discriminator.kwargs))
        load_torch_state_dict(d_model, initial_discriminator_state(cfg), source="initial discriminator")
        d_model.train()
        setup.discriminator, state["d_params"], state["d_rest"] = Network.split(d_model)
        setup.d_tx = make_optax(d_config(cfg), int(cfg.train.steps))[0]
        state["d_opt_state"] = setup.d_tx.init(state["d_params"])
    if cfg.optim.ema_decay:
        state["ema"] = jax.tree.map(np.array, params)  # own buffers: the step donates both
    perceptual = build_perceptual(cfg)[0]
    if perceptual is not None:
        setup.perceptual_def, setup.perceptual = nnx.graphdef(perceptual), nnx.state(perceptual)
    if "distill" in cfg:  # knowledge distillation (train/distill.py): the teacher, loaded in eval mode
        from train.distill import Distillation, load_teachers
        dist = Distillation(cfg)
        if dist.active:
            teacher = load_teachers(dist, ("jax",))["jax"]
            setup.teacher_def, setup.teacher = nnx.graphdef(teacher), nnx.state(teacher)
    return setup
