"""XLA settings jrestore applies before JAX creates its backends, so users get fast CPU convolutions by default.

jaxlib 0.10 sends every CPU convolution to a YNNPACK fusion that runs on one core; its filter gradient is
the slowest part of a train step. `--xla_cpu_experimental_ynn_fusion_type=-individual_convolution` sends
convolutions back to XLA's Eigen path, which uses every core. Measured on the 2-core CI machine
(DnCNN-17 64 ch, batch 16 of 1x32x32, median ms, same process layout):

    setting                                      train ms   infer ms
    jaxlib default, 1 device                          1932        402
    jaxlib default, batch split over 2 devices         797        132
    this flag, 1 device                                560        122
    this flag, 2 devices                          564 - 1000   113 - 177   (no gain: Eigen already uses both cores)

so the flag replaces device splitting on CPU and jrestore does not split the host into devices by default.
The convolution algorithm changes results by float32 rounding only (about 5e-5 max abs on DnCNN, closer to
a float64 reference than YNNPACK); the parity and published-PSNR tests run with it.

XLA reads XLA_FLAGS when the first backend starts (not at `import jax`), and aborts on a flag it does not
know, so the flag is added only
  - for the jaxlib minor versions it was measured on (SUPPORTED_JAXLIB),
  - when XLA_FLAGS does not already choose a YNN fusion type (the user's choice wins),
  - unless JRESTORE_XLA_DEFAULTS=0,
  - and only while no backend has started (importing jrestore after running JAX code leaves flags alone and
    warns once).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import warnings
from importlib import metadata

__all__ = ["CPU_CONV_FLAG", "SUPPORTED_JAXLIB", "apply_xla_defaults", "xla_defaults_status", "CONV_BACKEND_ENV",
           "CONV_BACKENDS", "conv_backend", "use_conv_backend"]

CPU_CONV_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
SUPPORTED_JAXLIB = ((0, 10),)  # (major, minor) releases whose XLA has the flag and was measured
_STATUS = {"applied": False, "reason": "not run"}


def _jaxlib_version() -> tuple[int, int] | None:
    try:
        major, minor = metadata.version("jaxlib").split(".")[:2]
        return int(major), int(minor)
    except (metadata.PackageNotFoundError, ValueError):
        return None


def _backends_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge
        return bool(getattr(xla_bridge, "_backends", None))
    except ImportError:  # private module moved: assume the worst, leave flags alone
        return True


def apply_xla_defaults(environ=None) -> dict:
    """Append CPU_CONV_FLAG to environ['XLA_FLAGS'] when it is safe (see the module docstring).

    environ: the mapping to edit (os.environ by default). Returns {"applied": bool, "reason": str}.
    """
    environ = os.environ if environ is None else environ
    flags = environ.get("XLA_FLAGS", "")
    version = _jaxlib_version()
    if environ.get("JRESTORE_XLA_DEFAULTS", "1") == "0":
        status = {"applied": False, "reason": "JRESTORE_XLA_DEFAULTS=0"}
    elif "xla_cpu_experimental_ynn_fusion_type" in flags:
        status = {"applied": False, "reason": "XLA_FLAGS already sets the YNN fusion type"}
    elif version not in SUPPORTED_JAXLIB:
        status = {"applied": False, "reason": f"jaxlib {version} is not one of {SUPPORTED_JAXLIB}"}
    elif environ is os.environ and _backends_started():
        status = {"applied": False, "reason": "a JAX backend had started before jrestore was imported"}
        warnings.warn("jrestore was imported after JAX started its backends, so CPU convolutions keep "
                      "jaxlib's single-core default (up to 3.5x slower to train). Import jrestore first, or set "
                      f"XLA_FLAGS={CPU_CONV_FLAG!r} yourself.", RuntimeWarning, stacklevel=3)
    else:
        environ["XLA_FLAGS"] = f"{flags} {CPU_CONV_FLAG}".strip()
        status = {"applied": True, "reason": "default"}
    if environ is os.environ:
        _STATUS.update(status)
    return status


def xla_defaults_status() -> dict:
    """What apply_xla_defaults did in this process: {"applied", "reason"}."""
    return dict(_STATUS)


# ---- Which library computes jrestore's float32 CPU convolutions (jrestore.layers.Conv2d) ----
# 'auto': oneDNN (jrestore.ops.onednn, through XLA's FFI) when JAX's default backend is the CPU, the library
# is built and loaded and the convolution is large enough to gain (jrestore.ops.onednn.auto_rule), else XLA; 'xla': always lax.conv_general_dilated; 'onednn': oneDNN, and an error when it
# is not built. Read when a convolution is traced: a function JAX has already traced (and cached) keeps the
# backend it was traced with, so set it before the first call.
CONV_BACKEND_ENV = "JRESTORE_CONV_BACKEND"
CONV_BACKENDS = ("auto", "xla", "onednn")
_CONV_BACKEND = contextvars.ContextVar("jrestore_conv_backend", default=None)


def conv_backend() -> str:
    """The convolution backend in force: use_conv_backend's, else $JRESTORE_CONV_BACKEND, else 'auto'."""
    chosen = _CONV_BACKEND.get()
    if chosen is not None:
        return chosen
    chosen = os.environ.get(CONV_BACKEND_ENV, "auto").strip().lower() or "auto"
    if chosen not in CONV_BACKENDS:
        raise ValueError(f"{CONV_BACKEND_ENV}: expected one of {', '.join(CONV_BACKENDS)}, "
                         f"got {os.environ[CONV_BACKEND_ENV]!r}")
    return chosen


@contextlib.contextmanager
def use_conv_backend(backend: str):
    """Within the block (this thread / task), trace convolutions with `backend` ('auto', 'xla' or 'onednn')."""
    if backend not in CONV_BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(CONV_BACKENDS)}, got {backend!r}")
    token = _CONV_BACKEND.set(backend)
    try:
        yield
    finally:
        _CONV_BACKEND.reset(token)
