"""Whole-model parity: one torch_ref model, perturbed, converted, run in both frameworks.

`compare_model(name, kwargs, inputs)` checks, in order:
  eval   - outputs in eval mode;
  train  - outputs in train mode and the updated buffers (BatchNorm running statistics);
  grad   - the loss value and every parameter gradient (loss = sum over outputs of mean(out**2)), within
           tolerances.GRADIENT or, for ill-conditioned models, a small multiple of PyTorch's own float32
           error (its float64 gradients of the same model are the reference);
  adam   - every parameter after one Adam step (torch.optim.Adam vs optax.adam, same hyper-parameters).
It returns a report dict; `jrestore verify` prints it and the parity tests assert on it.
"""
from __future__ import annotations

import copy
import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx

import jrestore.models
import torch_ref.models
from jrestore.convert import load_torch_state_dict, torch_state_dict
from jrestore.core.spec import ParityCase
from jrestore.parity import tolerances
from jrestore.parity.harness import max_abs_report, perturb_, to_nchw

__all__ = ["ModelCase", "compare_model", "build_pair", "ADAM_LR"]

ADAM_LR = 1e-3


# A model's parity case lives in its spec (jrestore/core/models/<family>.py); the old name stays importable.
ModelCase = ParityCase


def _to_torch(x: np.ndarray) -> torch.Tensor:
    x = np.asarray(x)
    return torch.from_numpy(np.ascontiguousarray(to_nchw(x) if x.ndim == 4 else x))


def build_pair(name: str, kwargs: dict, seed: int = 0, weights: dict | None = None, source: str = "weights"):
    """torch_ref model (from `weights` or perturbed away from its init) and the converted jrestore model.

    A `weights` dict that does not fit raises ConversionError naming `source`, the first key and both shapes.
    """
    torch.manual_seed(seed)  # the torch init that perturb_ starts from
    tm = torch_ref.models.get(name, **kwargs)
    jm = jrestore.models.get(name, **kwargs, rngs=nnx.Rngs(seed))
    if weights is not None:
        load_torch_state_dict(jm, weights, source=source)  # checks keys and shapes first, with one clear error
        tm.load_state_dict(weights)
    else:
        perturb_(tm, seed)
        load_torch_state_dict(jm, tm.state_dict(), source=f"torch_ref.models.get({name!r})")
    return tm, jm


def _loss_torch(out) -> torch.Tensor:
    leaves = [out] if isinstance(out, torch.Tensor) else jax.tree_util.tree_leaves(out)
    return sum((leaf.float() ** 2).mean() for leaf in leaves)


def _loss_jax(out):
    return sum(jnp.mean(leaf ** 2) for leaf in jax.tree_util.tree_leaves(out))


def _as_state_dict_of(jm: nnx.Module, graphdef, params, rest) -> dict:
    """Torch-layout arrays of `params` (e.g. gradients) placed into a copy of the model's structure."""
    return torch_state_dict(nnx.merge(graphdef, params, rest, copy=True))


def _summary(report: dict, atol: float, floors: dict | None = None) -> dict:
    """ok when every leaf's max-abs is <= max(atol * max(1, max|torch|), floors[leaf])."""
    floors = floors or {}
    worst = max((r["max_abs"] / max(1.0, r["scale"]) for r in report.values()), default=0.0)
    first_bad = next((k for k, r in report.items()
                      if r["max_abs"] > max(atol * max(1.0, r["scale"]), floors.get(k, 0.0))), None)
    return {"max_abs": max((r["max_abs"] for r in report.values()), default=0.0), "max_rel": worst,
            "first_bad": first_bad, "ok": first_bad is None, "leaves": report}


def _float32_gradient_noise(tm: torch.nn.Module, mode: str, t_in: list, t_grads: dict, runs: int = 4) -> dict:
    """Per parameter, how far PyTorch's own float32 gradients stray from its float64 ones.

    One run's error is a lucky sample: a ReLU network's gradient jumps wherever an activation sits within
    float32 rounding of the kink, and which of them cross depends on the order of every float32 sum (so on
    the framework and the CPU). The noise is therefore the largest error over the given inputs and
    `runs - 1` copies nudged by a few float32 ulps (relative 2**-21), each against the float64 gradient at
    the same nudged point; the nudges are seeded, so the bound is reproducible.
    """
    g = torch.Generator().manual_seed(0)
    noise = {}
    for run in range(runs):
        inputs = t_in if run == 0 else [
            x * (1 + 2.0 ** -21 * (2 * torch.rand(x.shape, generator=g, dtype=x.dtype) - 1))
            if x.is_floating_point() else x for x in t_in]
        if run == 0:
            grads32 = t_grads
        else:
            tm32 = copy.deepcopy(tm)
            getattr(tm32, mode)()
            tm32.zero_grad()
            _loss_torch(tm32(*inputs)).backward()
            grads32 = {k: p.grad for k, p in tm32.named_parameters() if p.grad is not None}
        tm64 = copy.deepcopy(tm).double()
        getattr(tm64, mode)()
        _loss_torch(tm64(*[x.double() if x.is_floating_point() else x for x in inputs])).backward()
        for k, p in tm64.named_parameters():
            if k in t_grads:
                noise[k] = max(noise.get(k, 0.0), float((grads32[k].double() - p.grad).abs().max()))
    return noise


def compare_model(name: str, kwargs: dict, inputs: tuple, *, seed: int = 0, train_mode: bool = True,
                  grad: bool = True, atol: float | None = tolerances.MODEL, weights: dict | None = None,
                  source: str = "weights") -> dict:
    """Run every parity check; returns {'eval': summary, 'train': ..., 'grad': ..., 'adam': ..., 'ok': bool}.
    atol: the output tolerance (None: tolerances.MODEL, as a ParityCase without its own gives)."""
    atol = tolerances.MODEL if atol is None else atol
    tm, jm = build_pair(name, kwargs, seed, weights, source)
    t_in = [_to_torch(x) for x in inputs]
    j_in = [jnp.asarray(x) for x in inputs]
    result = {}

    tm.eval(); jm.eval()
    with torch.no_grad():
        t_out = tm(*t_in)
    result["eval"] = _summary(max_abs_report(jm(*j_in), t_out, "eval"), atol)

    if train_mode:
        tm_t, jm_t = copy.deepcopy(tm), nnx.clone(jm)
        tm_t.train(); jm_t.train()
        with torch.no_grad():
            t_out = tm_t(*t_in)
        j_out = jm_t(*j_in)
        outs = max_abs_report(j_out, t_out, "train")
        bufs = max_abs_report(dict(torch_state_dict(jm_t)), {k: v for k, v in tm_t.state_dict().items()}, "state",
                              layout="none")
        result["train"] = _summary({**outs, **bufs}, atol)

    if grad:
        tm_g, jm_g = copy.deepcopy(tm), nnx.clone(jm)
        mode = "train" if train_mode else "eval"
        getattr(tm_g, mode)(); getattr(jm_g, mode)()
        t_loss = _loss_torch(tm_g(*t_in))
        tm_g.zero_grad()
        t_loss.backward()
        t_grads = {k: p.grad for k, p in tm_g.named_parameters() if p.grad is not None}
        graphdef, params, rest = nnx.split(jm_g, nnx.Param, ...)

        def loss_fn(p):
            m = nnx.merge(graphdef, p, rest, copy=True)
            return _loss_jax(m(*j_in))

        j_loss, j_grads = jax.jit(jax.value_and_grad(loss_fn))(params)  # the compiled path users run
        j_grad_sd = _as_state_dict_of(jm_g, graphdef, j_grads, rest)
        report = max_abs_report({k: j_grad_sd[k] for k in t_grads}, t_grads, "grad", layout="none")
        report["loss"] = max_abs_report(float(j_loss), float(t_loss.detach()), "loss")["loss"]
        noise = _float32_gradient_noise(tm, mode, t_in, t_grads)
        floors = {f"grad.{k}": tolerances.GRADIENT_FLOAT32_NOISE_FACTOR * v for k, v in noise.items()}
        result["grad"] = _summary(report, tolerances.GRADIENT, floors)
        result["grad"]["torch_float32_noise"] = max(noise.values(), default=0.0)

        # One Adam step from the same gradients.
        opt = torch.optim.Adam([p for p in tm_g.parameters() if p.grad is not None], lr=ADAM_LR)
        opt.step()
        tx = optax.adam(ADAM_LR)
        updates, _ = tx.update(j_grads, tx.init(params), params)
        new_params = optax.apply_updates(params, updates)
        j_sd = _as_state_dict_of(jm_g, graphdef, new_params, rest)
        t_sd = dict(tm_g.named_parameters())
        # Adam's first step is ~lr * sign(g): compare where both frameworks' gradients have a clear sign
        live = {k: np.abs(t_grads[k].numpy()) > max(tolerances.ADAM_GRAD_FLOOR, 2 * report[f"grad.{k}"]["max_abs"])
                for k in t_grads}
        report = max_abs_report({k: j_sd[k][live[k]] for k in t_grads},
                                {k: t_sd[k].detach().numpy()[live[k]] for k in t_grads}, "adam", layout="none")
        result["adam"] = _summary(report, tolerances.OPTIMIZER_STEP)

    result["ok"] = all(v["ok"] for v in result.values() if isinstance(v, dict))
    return result
