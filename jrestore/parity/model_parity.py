"""Whole-model parity: a PyTorch module and its NNX twin, the torch state converted by rule, run in both.

`compare(torch_module, jax_module, *inputs)` works on any pair that follows the naming rule (or a `key_map`);
`compare_model(name, kwargs, inputs)` builds a registered model in both frameworks and calls it. Checks:
  eval   - outputs in eval mode;
  train  - outputs in train mode and the updated buffers (BatchNorm running statistics);
  grad   - the loss value and every parameter gradient (loss = sum over outputs of mean(out**2)), within
           tolerances.GRADIENT or, for ill-conditioned models, a small multiple of PyTorch's own float32
           error (its float64 gradients of the same model are the reference);
  adam   - every parameter after one Adam step (torch.optim.Adam vs optax.adam, same hyper-parameters);
  layers - per-layer max-abs of every submodule's output and the first layer over tolerance.
It returns a report dict; `jrestore verify` prints it and the parity tests assert on it.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Callable

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
from jrestore.parity.layer_trace import layer_table

__all__ = ["ModelCase", "compare", "compare_model", "build_pair", "ADAM_LR"]

ADAM_LR = 1e-3


# A model's parity case lives in its spec (jrestore/core/models/<family>.py); the old name stays importable.
ModelCase = ParityCase


def _to_torch(x: np.ndarray) -> torch.Tensor:
    x = np.asarray(x)
    return torch.from_numpy(np.ascontiguousarray(to_nchw(x) if x.ndim == 4 else x))


def build_pair(name: str, kwargs: dict, seed: int = 0, weights: dict | None = None, source: str = "weights",
               perturb: bool = True):
    """torch_ref model (from `weights`, else its init perturbed unless `perturb` is False) and the converted
    jrestore model.

    A `weights` dict that does not fit raises ConversionError naming `source`, the first key and both shapes.
    """
    torch.manual_seed(seed)  # the torch init that perturb_ starts from
    tm = torch_ref.models.get(name, **kwargs)
    jm = jrestore.models.get(name, **kwargs, rngs=nnx.Rngs(seed))
    if weights is not None:
        load_torch_state_dict(jm, weights, source=source)  # checks keys and shapes first, with one clear error
        tm.load_state_dict(weights)
    else:
        if perturb:
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


def _key_names(torch_keys, key_map) -> dict:
    """{torch state_dict key: jax state path} for every key, by `key_map` (None, a dict or a callable).

    A dict renames the keys it lists and keeps the others; a callable is asked about every key. A dict key
    that the torch module does not have is a ValueError (a typo would otherwise rename nothing, silently).
    """
    torch_keys = list(torch_keys)
    if key_map is None:
        return {k: k for k in torch_keys}
    if isinstance(key_map, Mapping):
        unknown = [k for k in key_map if k not in torch_keys]
        if unknown:
            raise ValueError(f"key_map: expected keys of the torch module's state_dict, got {unknown[:5]} "
                             f"(it has {torch_keys[:5]}{' ...' if len(torch_keys) > 5 else ''})")
        return {k: key_map.get(k, k) for k in torch_keys}
    if callable(key_map):
        names = {k: key_map(k) for k in torch_keys}
        bad = {k: v for k, v in names.items() if not isinstance(v, str)}
        if bad:
            key, value = next(iter(bad.items()))
            raise ValueError(f"key_map: expected a callable returning a str jax key, got {value!r} for {key!r}")
        return names
    raise ValueError(f"key_map: expected None, a dict or a callable (torch key -> jax key), "
                     f"got {type(key_map).__name__}")


def _module_path_map(torch_module: torch.nn.Module, names: dict) -> Callable[[str], str]:
    """torch module name -> NNX module path, read off the key map: module `m` owning key `m.rest` that
    maps to `p.rest` sits at `p` (its own leaves first, as state_dict lists them); otherwise unchanged."""
    paths = {}
    for module_name, _ in torch_module.named_modules():
        for torch_key, jax_key in names.items():
            rest = torch_key[len(module_name):]
            if module_name and torch_key.startswith(module_name + ".") and jax_key.endswith(rest):
                paths[module_name] = jax_key[:-len(rest)]
                break
    return lambda name: paths.get(name, name)


def compare(torch_module: torch.nn.Module, jax_module: nnx.Module, *inputs, train: bool = False,
            grads: bool = True, key_map: Mapping | Callable[[str], str] | None = None, perturb: bool = True,
            seed: int = 0, atol: float | None = tolerances.MODEL, layers: bool = True) -> dict:
    """Compare any PyTorch module with its NNX twin on `inputs`; returns a report (neither module is changed).

    The twins must share the naming rule (README, Conventions: a torch state_dict key is the NNX state path,
    layouts fixed by the leaf kinds of jrestore.layers), or `key_map` says how names differ: torch key ->
    jax key, as a dict (unlisted keys keep their name) or a callable.

    Steps, on copies: perturb the torch module's parameters and buffers away from their init (`perturb`,
    seeded by `seed`: two default inits can agree by accident, e.g. zero biases), convert its state_dict to
    the jax module by rule, then check:
      eval   - outputs in eval mode, within `atol` relative to max(1, max|torch|) (None: tolerances.MODEL);
      train  - (`train`) outputs in train mode and every buffer after it (BatchNorm running statistics);
      grad   - (`grads`) the loss sum(mean(out**2)) and every parameter gradient, in train mode when `train`,
               within tolerances.GRADIENT or a multiple of PyTorch's own float32 error (float64 run);
      adam   - (`grads`) every parameter after one Adam step from those gradients;
      layers - (`layers`) per-layer max-abs of every submodule's output in eval mode (torch execution order,
               eager JAX), and the first layer over `atol`.

    inputs: NHWC float32 arrays (rank-4 ones go to torch as NCHW; others as they are, e.g. a noise level).
    Returns {"ok", "perturbed", "eval", "train"?, "grad"?, "adam"?, "layers"?, "first_divergence"?}; each
    check is {"ok", "max_abs", "max_rel", "first_bad", "leaves": {name: max_abs_report row}}, named by the
    torch keys; "layers" rows are {"layer", "shape", "max_abs", "scale"}.
    """
    if not isinstance(torch_module, torch.nn.Module):
        raise ValueError(f"torch_module: expected a torch.nn.Module, got {type(torch_module).__name__}")
    if not isinstance(jax_module, nnx.Module):
        raise ValueError(f"jax_module: expected a flax.nnx.Module, got {type(jax_module).__name__}")
    if not inputs:
        raise ValueError("inputs: expected at least one NHWC array, got none")
    atol = tolerances.MODEL if atol is None else atol
    tm, jm = copy.deepcopy(torch_module), nnx.clone(jax_module)
    if perturb:
        perturb_(tm, seed)
    names = _key_names(tm.state_dict().keys(), key_map)
    load_torch_state_dict(jm, {names[k]: v for k, v in tm.state_dict().items()},
                          source=f"{type(torch_module).__name__}.state_dict()" + (" (after key_map)" if key_map else ""))

    def jax_by_torch_key(state: dict) -> dict:
        return {k: state[names[k]] for k in names if names[k] in state}

    t_in = [_to_torch(x) for x in inputs]
    j_in = [jnp.asarray(x) for x in inputs]
    result = {"perturbed": bool(perturb)}

    tm.eval(); jm.eval()
    with torch.no_grad():
        t_out = tm(*t_in)
    result["eval"] = _summary(max_abs_report(jm(*j_in), t_out, "eval"), atol)

    if train:
        tm_t, jm_t = copy.deepcopy(tm), nnx.clone(jm)
        tm_t.train(); jm_t.train()
        with torch.no_grad():
            t_out = tm_t(*t_in)
        outs = max_abs_report(jm_t(*j_in), t_out, "train")
        bufs = max_abs_report(jax_by_torch_key(torch_state_dict(jm_t)), dict(tm_t.state_dict()), "state",
                              layout="none")
        result["train"] = _summary({**outs, **bufs}, atol)

    if grads:
        tm_g, jm_g = copy.deepcopy(tm), nnx.clone(jm)
        mode = "train" if train else "eval"
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
        j_grad_sd = jax_by_torch_key(_as_state_dict_of(jm_g, graphdef, j_grads, rest))
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
        j_sd = jax_by_torch_key(_as_state_dict_of(jm_g, graphdef, new_params, rest))
        t_sd = dict(tm_g.named_parameters())
        # Adam's first step is ~lr * sign(g): compare where both frameworks' gradients have a clear sign
        live = {k: np.abs(t_grads[k].numpy()) > max(tolerances.ADAM_GRAD_FLOOR, 2 * report[f"grad.{k}"]["max_abs"])
                for k in t_grads}
        report = max_abs_report({k: j_sd[k][live[k]] for k in t_grads},
                                {k: t_sd[k].detach().numpy()[live[k]] for k in t_grads}, "adam", layout="none")
        result["adam"] = _summary(report, tolerances.OPTIMIZER_STEP)

    result["ok"] = all(v["ok"] for v in result.values() if isinstance(v, dict))
    if layers:
        rows = layer_table(tm, jm, t_in, j_in, module_path=_module_path_map(tm, names))
        result["layers"] = rows
        result["first_divergence"] = next((r["layer"] for r in rows if r["max_abs"] > atol * max(1.0, r["scale"])),
                                          None)
    return result


def compare_model(name: str, kwargs: dict, inputs: tuple, *, seed: int = 0, train_mode: bool = True,
                  grad: bool = True, atol: float | None = tolerances.MODEL, weights: dict | None = None,
                  source: str = "weights", layers: bool = False) -> dict:
    """`compare` on registered model `name` built with `kwargs` in both frameworks: from `weights` when given,
    else from the torch init perturbed with `seed`. Returns compare's report. atol: the output tolerance
    (None: tolerances.MODEL, as a ParityCase without its own gives)."""
    tm, jm = build_pair(name, kwargs, seed, weights, source, perturb=False)
    return compare(tm, jm, *inputs, train=train_mode, grads=grad, perturb=weights is None, seed=seed, atol=atol,
                   layers=layers)
