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

Chosen by measurement: `jrestore bench --tune-xla` times a small convolution train and infer step under each of
jrestore.bench.xla_tune.CANDIDATES (jaxlib's default, the flag above, the flag with oneDNN's dot/eltwise
fusions, no YNN fusions at all) on the running CPU and stores the winner in a per-user cache
($JRESTORE_CACHE or ~/.cache/jrestore, file xla_settings.json), keyed by CPU model name + ISA flags + jaxlib
version. When an entry matches this machine its flags are used (also for a jaxlib outside SUPPORTED_JAXLIB:
they were measured with it); otherwise the measured default above, which was best on both CPU generations
seen so far (the 2-core CI machine above; a 2-core AVX-512 AMD EPYC: DnCNN-17 train 392 ms default, 245 ms
with the flag, 230-243 ms with every oneDNN flag of jaxlib 0.10.2).
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import os
import platform
import sys
import warnings
from importlib import metadata
from pathlib import Path

__all__ = ["CPU_CONV_FLAG", "SUPPORTED_JAXLIB", "apply_xla_defaults", "xla_defaults_status", "xla_cache_path",
           "machine_identity", "machine_key", "read_xla_cache", "cached_xla_setting", "store_xla_setting",
           "xla_setting_choice", "TUNED_FLAG_NAMES", "CONV_BACKEND_ENV", "CONV_BACKENDS", "conv_backend",
           "use_conv_backend", "MALLOC_ENV", "MALLOC_SETTINGS", "apply_malloc_defaults", "malloc_defaults_status"]

CPU_CONV_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
SUPPORTED_JAXLIB = ((0, 10),)  # (major, minor) releases whose XLA has the flag and was measured
_STATUS = {"applied": False, "reason": "not run"}
# a user's XLA_FLAGS naming any of these wins over jrestore's choice (they are what the candidates set)
TUNED_FLAG_NAMES = ("xla_cpu_experimental_ynn_fusion_type", "xla_cpu_use_onednn",
                    "xla_cpu_experimental_onednn_custom_call", "xla_cpu_experimental_onednn_fusion_type")
# ISA features that change which convolution code is fastest; the rest of /proc/cpuinfo's flags (bugs,
# virtualisation, power management) would split the cache between identical CPUs for no reason
_ISA_PREFIXES = ("avx", "fma", "f16c", "sse4", "amx", "bmi2", "vnni", "asimd", "sve", "fp16", "bf16", "i8mm")
_CACHE_VERSION = 1


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


def apply_xla_defaults(environ=None, cache_path=None) -> dict:
    """Append the chosen XLA CPU flags to environ['XLA_FLAGS'] when it is safe (see the module docstring):
    a matching entry of the measured cache (xla_setting_choice), else CPU_CONV_FLAG.

    environ: the mapping to edit (os.environ by default); cache_path: the cache file (xla_cache_path(environ)
    by default). Returns {"applied": bool, "reason": str, "setting": name or None, "flags": str appended,
    "source": "cache" | "default" | None}.
    """
    environ = os.environ if environ is None else environ
    flags = environ.get("XLA_FLAGS", "")
    choice = None
    if environ.get("JRESTORE_XLA_DEFAULTS", "1") == "0":
        status = {"applied": False, "reason": "JRESTORE_XLA_DEFAULTS=0"}
    elif any(name in flags for name in TUNED_FLAG_NAMES):
        status = {"applied": False, "reason": "XLA_FLAGS already sets the YNN fusion type or a oneDNN option"}
    elif (choice := xla_setting_choice(environ, cache_path))["flags"] is None:
        status = {"applied": False, "reason": choice["reason"]}
    elif not choice["flags"]:  # the measurement chose jaxlib's own default: nothing to add
        status = {"applied": False, "reason": choice["reason"]}
    elif environ is os.environ and _backends_started():
        status = {"applied": False, "reason": "a JAX backend had started before jrestore was imported"}
        warnings.warn("jrestore was imported after JAX started its backends, so CPU convolutions keep "
                      "jaxlib's single-core default (up to 3.5x slower to train). Import jrestore first, or set "
                      f"XLA_FLAGS={CPU_CONV_FLAG!r} yourself.", RuntimeWarning, stacklevel=3)
    else:
        environ["XLA_FLAGS"] = f"{flags} {choice['flags']}".strip()
        status = {"applied": True, "reason": choice["reason"]}
    status.update(setting=choice and choice["name"], flags=(choice or {}).get("flags") or "",
                  source=choice and choice["source"])
    if not status["applied"]:
        status["flags"] = ""
    if environ is os.environ:
        _STATUS.update(status)
    return status


def xla_defaults_status() -> dict:
    """What apply_xla_defaults did in this process: {"applied", "reason", "setting", "flags", "source"}."""
    return dict(_STATUS)


# ---- the measured choice: a per-user cache keyed by CPU, ISA and jaxlib (jrestore bench --tune-xla) ----------

def xla_cache_path(environ=None) -> Path:
    """The cache file: $JRESTORE_CACHE/xla_settings.json, else $XDG_CACHE_HOME/jrestore/..., else
    ~/.cache/jrestore/xla_settings.json."""
    environ = os.environ if environ is None else environ
    if environ.get("JRESTORE_CACHE"):
        root = Path(environ["JRESTORE_CACHE"])
    else:
        root = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jrestore"
    return root / "xla_settings.json"


def machine_identity(cpuinfo: str | None = None, jaxlib: str | None = None) -> dict:
    """{"cpu": model name, "isa": [sorted ISA features], "jaxlib": version}: what a measured XLA setting is
    valid for. cpuinfo: /proc/cpuinfo's text (read here by default; elsewhere platform.processor())."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read(1 << 16)  # the first processor's block is enough
        except OSError:
            cpuinfo = ""
    name, features = "", []
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model Name", "CPU part") and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not features:
            features = value.split()
    if not name:
        name = platform.processor() or platform.machine()
    if jaxlib is None:
        try:
            jaxlib = metadata.version("jaxlib")
        except metadata.PackageNotFoundError:
            jaxlib = "none"
    isa = sorted({f for f in features if f.startswith(_ISA_PREFIXES) or any(p in f for p in ("vnni", "bf16"))})
    return {"cpu": name, "isa": isa, "jaxlib": jaxlib}


def machine_key(identity: dict) -> str:
    """The cache key of machine_identity(): 'cpu | isa,... | jaxlib X'."""
    return f"{identity['cpu']} | {','.join(identity['isa'])} | jaxlib {identity['jaxlib']}"


def read_xla_cache(path) -> dict:
    """{key: entry} from the cache file; {} when it is absent, unreadable or of another format (a broken
    cache must never stop `import jrestore`)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    return {k: v for k, v in data["entries"].items()
            if isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("flags"), str)}


def cached_xla_setting(identity: dict | None = None, path=None) -> dict | None:
    """The cache entry measured on this machine (same CPU name, ISA features and jaxlib version), or None."""
    entries = read_xla_cache(xla_cache_path() if path is None else path)
    if not entries:  # identify the machine (it reads /proc/cpuinfo) only when there is something to match
        return None
    return entries.get(machine_key(machine_identity() if identity is None else identity))


def store_xla_setting(entry: dict, identity: dict | None = None, path=None) -> Path:
    """Record `entry` ({"name", "flags", ...measurements}) for this machine in the cache, keeping the other
    machines' entries; written atomically (a temporary file renamed over the old one)."""
    from jrestore._io import atomic_write_text

    if not isinstance(entry.get("name"), str) or not isinstance(entry.get("flags"), str):
        raise ValueError(f"entry: expected a dict with string 'name' and 'flags', got {entry!r}")
    identity = machine_identity() if identity is None else identity
    path = Path(xla_cache_path() if path is None else path)
    entries = read_xla_cache(path)
    entries[machine_key(identity)] = {**entry, **identity}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"version": _CACHE_VERSION, "entries": entries}, indent=1) + "\n")
    return path


def xla_setting_choice(environ=None, cache_path=None, identity: dict | None = None) -> dict:
    """Which XLA CPU flags this machine should get: {"name", "flags" (None: none known for this jaxlib),
    "source": "cache" | "default" | None, "reason"}. A cache entry for this CPU + ISA + jaxlib wins; else
    CPU_CONV_FLAG on the jaxlib versions it was measured on."""
    environ = os.environ if environ is None else environ
    path = xla_cache_path(environ) if cache_path is None else cache_path
    entry = cached_xla_setting(identity, path)
    if entry is not None:
        when = f" on {entry['measured_at']}" if entry.get("measured_at") else ""
        return {"name": entry["name"], "flags": entry["flags"], "source": "cache",
                "reason": f"measured on this CPU{when} (jrestore bench --tune-xla, {path})"}
    version = _jaxlib_version()
    if version in SUPPORTED_JAXLIB:
        return {"name": "eigen_conv", "flags": CPU_CONV_FLAG, "source": "default",
                "reason": "default: best on both CPU generations measured so far; no measurement for this CPU "
                          "in the cache (jrestore bench --tune-xla)"}
    return {"name": None, "flags": None, "source": None,
            "reason": f"jaxlib {version} is not one of {SUPPORTED_JAXLIB} and the cache has no measurement for it"}


# ---- Which library computes jrestore's float32 CPU convolutions (jrestore.layers.Conv2d) ----
# 'auto': oneDNN (jrestore.ops.onednn, through XLA's FFI) when JAX's default backend is the CPU, the library
# is built and loaded and the convolution is large enough to gain (jrestore.ops.onednn.auto_rule), else XLA;
# 'xla': always lax.conv_general_dilated; 'onednn': oneDNN, and an error when it is not built. Read when a
# convolution is traced: a function JAX has already traced (and cached) keeps the backend it was traced with, so
# set it before the first call.
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


# ---- glibc's allocator: keep XLA's per-step temporary buffers in the process ----------------------------------
# XLA:CPU allocates an executable's temporary buffer (ISTA-Net+'s quick train step: 210 MB; DnCNN's: 138 MB) with
# posix_memalign on every execution, and its Eigen convolutions malloc a 36.5 MB contraction scratch each. Above
# glibc's mmap threshold (at most 32 MB) each of these is a fresh mmap, unmapped again on free, so every page
# is faulted in and zeroed by the kernel again on every step: 51,904 minor faults per ISTA-Net+ step, 33,831 per
# DnCNN step (docs/measurements.md, "The allocator setting"). Serving large blocks from the heap and never
# trimming it keeps those pages mapped: no mmap (M_MMAP_MAX 0), no trim of the heap top (M_TRIM_THRESHOLD at
# its maximum), and one arena (M_ARENA_MAX 1) because glibc's other arenas are 64 MB mmapped heaps that fall
# back to mmap for anything larger. Measured: about a fifth less CPU time per step (the system time of the
# faults). The cost: memory freed by the process stays in it and the heap fragments, so RSS grows over the first
# 10-40 steps, then stays flat (DnCNN +20 %, ISTA-Net+ up to 2.3x), and is not returned to the OS until exit.
MALLOC_ENV = "JRESTORE_MALLOC_DEFAULTS"
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # glibc's malloc.h parameter numbers
MALLOC_SETTINGS = (("M_ARENA_MAX", _M_ARENA_MAX, 1), ("M_MMAP_MAX", _M_MMAP_MAX, 0),
                   ("M_TRIM_THRESHOLD", _M_TRIM_THRESHOLD, 2**31 - 1))
# a user who tunes glibc's allocator through the environment wins (these are read by glibc at start-up)
_USER_MALLOC_ENV = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
                    "MALLOC_TOP_PAD_")
_MALLOC_STATUS = {"applied": False, "reason": "not run"}


def _glibc():
    """The process's C library as a ctypes handle when it is glibc (it has mallopt), else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        return libc
    except (OSError, AttributeError):
        return None


def apply_malloc_defaults(environ=None, libc=None) -> dict:
    """Set glibc's allocator so freed large blocks stay in the process (MALLOC_SETTINGS; see the comment above),
    unless $JRESTORE_MALLOC_DEFAULTS is 0, the C library is not glibc, or the user tunes malloc through
    GLIBC_TUNABLES (glibc.malloc.*) or MALLOC_*_ variables. Process-wide and for the process's life, so the
    `jrestore` program applies it (jrestore.cli.main with argv None) and the library, imported into a user's
    process, does not: call it first in a long training or benchmark loop of your own.

    environ: the mapping read (os.environ by default); libc: an object with mallopt(param, value) -> int
    (glibc's, found here by default). Returns {"applied": bool, "reason": str, "settings": {name: value}}.
    """
    environ = os.environ if environ is None else environ
    status = {"applied": False, "settings": {}}
    if environ.get(MALLOC_ENV, "1").strip() == "0":
        status["reason"] = f"{MALLOC_ENV}=0"
    elif "glibc.malloc." in environ.get("GLIBC_TUNABLES", "") or any(k in environ for k in _USER_MALLOC_ENV):
        status["reason"] = "the environment already tunes glibc's malloc (GLIBC_TUNABLES or MALLOC_*_)"
    elif (libc := _glibc() if libc is None else libc) is None:
        status["reason"] = "the C library is not glibc"
    else:
        failed = [name for name, param, value in MALLOC_SETTINGS if libc.mallopt(param, value) != 1]
        if failed:  # mallopt returns 1 on success; a refused setting leaves the others in place (all harmless)
            status["reason"] = f"glibc refused {', '.join(failed)}"
        else:
            status.update(applied=True, reason="freed large blocks stay in the process (no per-step page faults)")
            status["settings"] = {name: value for name, _, value in MALLOC_SETTINGS}
    if environ is os.environ:
        _MALLOC_STATUS.clear()
        _MALLOC_STATUS.update(status)
    return status


def malloc_defaults_status() -> dict:
    """What apply_malloc_defaults did in this process: {"applied", "reason", "settings"}."""
    return dict(_MALLOC_STATUS)
