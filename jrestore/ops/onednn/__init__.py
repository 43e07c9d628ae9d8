"""oneDNN 2-D convolutions for JAX on CPU, through XLA's FFI, with their input and filter gradients.

    from jrestore.ops import onednn
    onednn.status()                     # {"available": bool, "reason": str, "library": path}
    y = onednn.conv2d(x, w, window_strides=(1, 1), padding=((1, 1), (1, 1)))

`conv2d(x [..., N, H, W, C], w [KH, KW, C/groups, O])` computes what
`lax.conv_general_dilated(x, w, window_strides, padding, rhs_dilation=..., dimension_numbers=("NHWC", "HWIO",
"NHWC"), feature_group_count=groups)` computes, with oneDNN's kernels (the library PyTorch's CPU convolutions
use). A `jax.custom_vjp` sends the input gradient and the filter gradient to oneDNN's backward-data and
backward-weights primitives. It works under jit, grad and vmap (vmap_method="expand_dims": the C++ side folds
the batch into N when the filter is shared, else loops). The handlers live in conv.cc, compiled by
`python -m jrestore.ops.onednn.build` (scripts/jr runs it); without that library `status()` says why and
`jrestore.layers.Conv2d` uses XLA.

What it covers: float32, any stride, non-negative per-side padding, any dilation, any groups. Not covered
(`supports` is False, Conv2d uses XLA): other dtypes, negative padding, input dilation (transposed
convolutions), empty outputs, symbolic shapes. Forward-mode autodiff (jax.jvp, jacfwd) of a custom_vjp is not
defined in JAX: use JRESTORE_CONV_BACKEND=xla for it. jrestore.export traces with the XLA backend, so exported
StableHLO never holds these CPU-only custom calls. Which backend Conv2d uses is decided by `use_onednn` from
`jrestore.runtime.conv_backend()` (JRESTORE_CONV_BACKEND=auto|xla|onednn).
"""
from __future__ import annotations

import ctypes
import functools
import threading
from typing import Sequence

import numpy as np

__all__ = ["status", "available", "conv2d", "supports", "use_onednn", "auto_rule", "conv_flops", "AUTO_MIN_FLOPS",
           "TARGETS"]

TARGETS = {"forward": "jrestore_onednn_conv_forward", "backward_data": "jrestore_onednn_conv_backward_data",
           "backward_weights": "jrestore_onednn_conv_backward_weights"}
_SYMBOLS = {"forward": "JrOnednnConvForward", "backward_data": "JrOnednnConvBackwardData",
            "backward_weights": "JrOnednnConvBackwardWeights"}
_LOCK = threading.Lock()
_STATUS: dict | None = None


def _load() -> dict:
    """Load the compiled library once and register its three FFI targets for the CPU platform."""
    global _STATUS
    with _LOCK:
        if _STATUS is not None:
            return _STATUS
        from jrestore.ops.onednn import build
        library = str(build.LIBRARY)
        status = {"available": False, "reason": "", "library": library}
        if not build.LIBRARY.is_file():
            status["reason"] = f"{build.LIBRARY.name} is not built (run: python -m jrestore.ops.onednn.build)"
        elif (build.STAMP.read_text().strip() if build.STAMP.is_file() else None) != build.expected_stamp():
            status["reason"] = (f"{build.LIBRARY.name} is out of date with conv.cc, jaxlib or oneDNN "
                                "(run: python -m jrestore.ops.onednn.build)")
        else:
            try:
                lib = ctypes.CDLL(library)
                import jax
                for kind, target in TARGETS.items():
                    jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, _SYMBOLS[kind])),
                                                platform="cpu")
                status.update(available=True, reason="loaded")
            except (OSError, AttributeError) as err:
                status["reason"] = f"could not load {build.LIBRARY.name}: {err}"
        _STATUS = status
        return status


def status() -> dict:
    """{"available": bool, "reason": str, "library": str}: whether oneDNN convolutions can run in this process."""
    return dict(_load())


def available() -> bool:
    return _load()["available"]


def _pairs(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    (a, b), (c, d) = padding
    return (int(a), int(b)), (int(c), int(d))


def supports(x, w, window_strides=(1, 1), padding=((0, 0), (0, 0)), rhs_dilation=(1, 1), groups: int = 1,
             lhs_dilation=(1, 1)) -> bool:
    """Whether conv2d computes this convolution (else the caller uses lax.conv_general_dilated).

    x [..., N, H, W, C], w [KH, KW, C/groups, O]: float32 both, w rank 4, non-negative padding, no input
    dilation, a non-empty output.
    """
    import jax.numpy as jnp
    if x.dtype != jnp.float32 or w.dtype != jnp.float32 or x.ndim < 4 or w.ndim != 4:
        return False
    if not all(isinstance(d, int) for d in (*x.shape, *w.shape)):  # symbolic shapes (jax.export): XLA's
        return False
    if tuple(lhs_dilation) != (1, 1) or isinstance(padding, str):
        return False
    padding = _pairs(padding)
    if min(padding[0] + padding[1]) < 0 or x.shape[-1] != w.shape[2] * groups or w.shape[3] % groups:
        return False
    out_hw = _output_hw(x.shape[-3:-1], w.shape[:2], window_strides, padding, rhs_dilation)
    return min(out_hw) > 0 and min(x.shape) > 0 and min(w.shape) > 0


def _output_hw(hw, khw, strides, padding, dilation) -> tuple[int, int]:
    return tuple((n + lo + hi - (d * (k - 1) + 1)) // s + 1
                 for n, k, s, (lo, hi), d in zip(hw, khw, strides, padding, dilation))


def _attrs(window_strides, padding, rhs_dilation, groups) -> dict:
    return {"window_strides": np.asarray(window_strides, np.int64),
            "padding_lo": np.asarray([p[0] for p in padding], np.int64),
            "padding_hi": np.asarray([p[1] for p in padding], np.int64),
            "rhs_dilation": np.asarray(rhs_dilation, np.int64), "groups": np.int64(groups)}


def _call(kind: str, a, b, out_shape, config):
    import jax
    return jax.ffi.ffi_call(TARGETS[kind], jax.ShapeDtypeStruct(out_shape, a.dtype),
                            vmap_method="expand_dims")(a, b, **_attrs(*config))


def _forward(x, w, config):
    window_strides, padding, rhs_dilation, groups = config
    out_hw = _output_hw(x.shape[-3:-1], w.shape[:2], window_strides, padding, rhs_dilation)
    return _call("forward", x, w, (*x.shape[:-3], *out_hw, w.shape[3]), config)


@functools.lru_cache(maxsize=None)
def _custom_conv():
    import jax

    @functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
    def conv(x, w, config):
        return _forward(x, w, config)

    def conv_fwd(x, w, config):
        return _forward(x, w, config), (x, w)

    def conv_bwd(config, residuals, dy):
        x, w = residuals
        dx = _call("backward_data", dy, w, x.shape, config)
        dw = _call("backward_weights", x, dy, w.shape, config)
        return dx, dw

    conv.defvjp(conv_fwd, conv_bwd)
    return conv


def conv2d(x, w, window_strides: Sequence[int] = (1, 1), padding=((0, 0), (0, 0)),
           rhs_dilation: Sequence[int] = (1, 1), groups: int = 1):
    """lax.conv_general_dilated(x, w, window_strides, padding, rhs_dilation=rhs_dilation, dimension_numbers=
    ("NHWC", "HWIO", "NHWC"), feature_group_count=groups) computed by oneDNN.

    x: [..., N, H, W, C] float32; w: [KH, KW, C/groups, O] float32; padding: ((top, bottom), (left, right)).
    Returns [..., N, H', W', O]. Raises ValueError when `supports` is False or the library is not loaded.
    """
    if not supports(x, w, window_strides, padding, rhs_dilation, groups):
        raise ValueError(f"x, w: oneDNN conv2d takes float32 x [..., N, H, W, {w.shape[2] * groups if w.ndim == 4 else 'C'}] "
                         f"and w [KH, KW, C/groups, O] with non-negative padding and a non-empty output; got x "
                         f"{x.dtype}{tuple(x.shape)}, w {w.dtype}{tuple(w.shape)}, padding {padding}, "
                         f"strides {window_strides}, dilation {rhs_dilation}, groups {groups}")
    state = _load()
    if not state["available"]:
        raise ValueError(f"JRESTORE_CONV_BACKEND: oneDNN convolutions are not available: {state['reason']}")
    config = (tuple(int(s) for s in window_strides), _pairs(padding), tuple(int(d) for d in rhs_dilation), int(groups))
    return _custom_conv()(x, w, config)


# Below this many multiply-adds x 2 per forward call, `auto` keeps XLA. Measured on the 2-core CI machine under
# load (docs/measurements.md, oneDNN convolutions): FSRCNN's train step, whose convolutions are 12-26 MFLOP at
# the quick size, was slower on oneDNN (195 ms median against XLA's 116), while DnCNN's and SRResNet's (1.2
# GFLOP per body convolution; SRResNet's 9x9 head 0.29 GFLOP) were 1.5x and 2.5x faster: each oneDNN call pays
# an OpenMP fork/join and filter reorders, which small convolutions do not earn back on two loaded cores.
AUTO_MIN_FLOPS = 1e8


def conv_flops(x_shape, w_shape, window_strides=(1, 1), padding=((0, 0), (0, 0)), rhs_dilation=(1, 1)) -> float:
    """2 * multiply-adds of one forward convolution: x [..., N, H, W, C], w [KH, KW, C/groups, O]."""
    oh, ow = _output_hw(x_shape[-3:-1], w_shape[:2], window_strides, _pairs(padding), rhs_dilation)
    return 2.0 * float(np.prod(x_shape[:-3])) * oh * ow * float(np.prod(w_shape))


def auto_rule(x_shape, w_shape, window_strides=(1, 1), padding=((0, 0), (0, 0)), rhs_dilation=(1, 1)) -> bool:
    """The measured rule `auto` applies on CPU once the library is loaded: oneDNN for convolutions of at least
    AUTO_MIN_FLOPS per forward call, XLA for smaller ones."""
    return conv_flops(x_shape, w_shape, window_strides, padding, rhs_dilation) >= AUTO_MIN_FLOPS


def use_onednn(x, w, window_strides=(1, 1), padding=((0, 0), (0, 0)), rhs_dilation=(1, 1), groups: int = 1,
               lhs_dilation=(1, 1)) -> bool:
    """Whether jrestore's convolution layers should call conv2d for this convolution, per
    jrestore.runtime.conv_backend(): 'xla' never; 'onednn' whenever `supports` (an absent library raises
    ValueError); 'auto' when JAX's default backend is the CPU, the library is loaded, `supports` and `auto_rule`
    (at least AUTO_MIN_FLOPS per call)."""
    from jrestore.runtime import conv_backend
    backend = conv_backend()
    if backend == "xla":
        return False
    if backend == "onednn":
        state = _load()
        if not state["available"]:
            raise ValueError(f"JRESTORE_CONV_BACKEND: 'onednn' was asked for but oneDNN convolutions are not "
                             f"available: {state['reason']}")
        return supports(x, w, window_strides, padding, rhs_dilation, groups, lhs_dilation)
    import jax
    if jax.default_backend() != "cpu" or not available():
        return False
    return (supports(x, w, window_strides, padding, rhs_dilation, groups, lhs_dilation)
            and auto_rule(x.shape, w.shape, window_strides, padding, rhs_dilation))
