"""The parity harness: perturb a torch_ref module, convert it, run both frameworks, compare by name.

Use:
    perturb_(torch_model, seed)                    # every parameter and buffer away from its default
    load_torch_state_dict(jax_model, torch_model.state_dict())
    assert_close(jax_out, torch_out, atol, "outputs")  # recursive, named max-abs report

Layouts: torch_ref is NCHW, jrestore NHWC; `to_nhwc` / `to_nchw` convert rank-4 arrays only, and the
comparison helpers convert rank-4 torch tensors automatically (`layout='NCHW'`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from jrestore.convert import to_numpy

__all__ = ["perturb_", "calibrate_batchnorm_", "to_nhwc", "to_nchw", "max_abs_report", "assert_close", "torch_input"]


def to_nhwc(x) -> np.ndarray:
    x = to_numpy(x)
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def to_nchw(x) -> np.ndarray:
    x = np.asarray(x)
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def torch_input(x_nhwc) -> torch.Tensor:
    """A float32 NCHW torch tensor holding the same values as the NHWC array."""
    return torch.from_numpy(np.ascontiguousarray(to_nchw(np.asarray(x_nhwc, dtype=np.float32))))


# Leaves that must stay positive: a negative soft threshold makes the shrinkage jump by 2|theta| at 0, so
# one float32 rounding that flips a sign moves an output by O(theta) and no tolerance can hold.
POSITIVE_LEAVES = {"soft_thr"}


@torch.no_grad()
def calibrate_batchnorm_(module: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """Set every BatchNorm2d's running statistics to those of batch `x` (one train pass at momentum 1, then
    momentum back to its value), in place; returns the module in eval mode. Perturbed running statistics
    can leave a deep discriminator's eval output nearly independent of the input; calibrated ones do not."""
    bns = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 1.0
    module.train()(x)
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    return module.eval()


@torch.no_grad()
def perturb_(module: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> torch.nn.Module:
    """Move every parameter and buffer of `module` away from its default, in place.

    Zero-initialised tensors (biases, SAGAN gamma) become non-zero, BN statistics become non-trivial
    (running_var stays positive, num_batches_tracked 1..3), PReLU slopes leave 0.25. Non-persistent
    buffers (constants outside the state dict) are left alone. The result depends only on `seed` and the module's initial values.
    Never compare two default inits.
    """
    g = torch.Generator().manual_seed(seed)
    persistent = module.state_dict().keys()  # non-persistent buffers are constants the other side rebuilds
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if name not in persistent:
            continue
        if not t.is_floating_point():
            # A small counter: BatchNorm(momentum=None) averages with factor 1 / (num_batches_tracked + 1), and
            # a counter in the hundreds would make the update (and any error in it) vanish under tolerance.
            t.copy_(torch.randint(1, 4, t.shape, generator=g).to(t.dtype))
            continue
        noise = torch.randn(t.shape, generator=g, dtype=t.dtype)
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "running_var":
            t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) * 1.5 + 0.5)
        elif leaf == "running_mean":
            t.copy_(noise * 0.2)
        else:
            spread = float(t.std()) if t.numel() > 1 and float(t.std()) > 0 else 1.0
            t.add_(noise * scale * spread)
            if leaf in POSITIVE_LEAVES:
                t.abs_()
    return module


def _leaves(value, name: str, out: dict) -> dict:
    if isinstance(value, dict):
        for k, v in value.items():
            _leaves(v, f"{name}.{k}", out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _leaves(v, f"{name}_{i}", out)
    else:
        out[name] = value
    return out


def _nonfinite_mismatch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where exactly one side is non-finite, or both are but differ (NaN vs inf, +inf vs -inf)."""
    both_finite = np.isfinite(a) & np.isfinite(b)
    same_nonfinite = (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
    return ~(both_finite | same_nonfinite)


def max_abs_report(jax_value: Any, torch_value: Any, name: str = "outputs", layout: str = "NCHW") -> dict:
    """Named max-abs differences, recursing through dicts, lists and tuples.

    Rank-4 torch tensors are taken as `layout` and moved to NHWC before comparing.
    Returns {leaf_name: {"max_abs", "mean_abs", "argmax", "shape", "scale", "nonfinite", "nonfinite_mismatch"}};
    a shape mismatch is an AssertionError.

    Non-finite values are never hidden: NaN, +inf and -inf must sit at the same places on both sides (same
    sign of inf). Matching ones are left out of max_abs / mean_abs / scale and counted in "nonfinite"; any
    mismatch makes max_abs inf (so every tolerance check fails) and "nonfinite_mismatch" says how many and
    the first index with both values. Without this a NaN against a NaN, or against 0, at different places
    would look equal.
    """
    j = _leaves(jax_value, name, {})
    t = _leaves(torch_value, name, {})
    assert j.keys() == t.keys(), f"{name}: structures differ: {sorted(j)} vs {sorted(t)}"
    report = {}
    for key in j:
        a = np.asarray(j[key], dtype=np.float64)
        b = to_numpy(t[key])
        if layout == "NCHW" and b.ndim == 4:
            b = b.transpose(0, 2, 3, 1)
        b = np.asarray(b, dtype=np.float64)
        assert a.shape == b.shape, f"{key}: shape {a.shape} (jax) vs {b.shape} (torch)"
        both_finite = np.isfinite(a) & np.isfinite(b)
        mismatch = _nonfinite_mismatch(a, b)
        diff = np.abs(np.where(both_finite, a, 0.0) - np.where(both_finite, b, 0.0))
        finite_b = np.abs(b[np.isfinite(b)])
        described = None
        if mismatch.any():
            first = tuple(int(i) for i in np.argwhere(mismatch)[0])
            described = (f"{int(mismatch.sum())} non-finite mismatch(es), first at {first}: "
                         f"jax {float(a[first])} vs torch {float(b[first])}")
        report[key] = {
            "max_abs": float("inf") if described else (float(diff.max()) if diff.size else 0.0),
            "mean_abs": float(diff[both_finite].mean()) if both_finite.any() else 0.0,
            "argmax": (first if described else
                       tuple(int(i) for i in np.unravel_index(diff.argmax(), diff.shape)) if diff.size else ()),
            "shape": a.shape,
            "scale": float(finite_b.max()) if finite_b.size else 0.0,
            "nonfinite": int((~np.isfinite(a) & ~mismatch).sum()),
            "nonfinite_mismatch": described,
        }
    return report


def assert_close(jax_value, torch_value, atol: float, name: str = "outputs", *, relative: bool = False,
                 layout: str = "NCHW") -> dict:
    """Assert every leaf's max-abs difference is <= atol (times max(1, max|torch|) when `relative`) and that
    both sides have the same non-finite values at the same places (see max_abs_report)."""
    report = max_abs_report(jax_value, torch_value, name, layout)
    bad = []
    for key, r in report.items():
        limit = atol * max(1.0, r["scale"]) if relative else atol
        if r["nonfinite_mismatch"]:
            bad.append(f"{key}: {r['nonfinite_mismatch']} (shape {r['shape']})")
        elif not r["max_abs"] <= limit:
            bad.append(f"{key}: max_abs {r['max_abs']:.3e} > {limit:.1e} (mean {r['mean_abs']:.2e}, at {r['argmax']}, shape {r['shape']})")
    assert not bad, "Difference between PyTorch and JAX:\n  " + "\n  ".join(bad)
    return report
