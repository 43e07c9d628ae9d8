"""jrestore.runtime: the CPU convolution flag is applied by default, only when safe, and takes effect."""
import os
import subprocess
import sys

import pytest

from jrestore import runtime

_PROBE = """
import jrestore, jax, jax.numpy as jnp
f = jax.jit(lambda x, w: jax.lax.conv(x, w, (1, 1), "SAME"))
text = f.lower(jnp.ones((16, 64, 32, 32)), jnp.ones((64, 64, 3, 3))).compile().as_text()
print(jrestore.runtime.xla_defaults_status()["applied"], "__ynn_fusion" in text)
"""


def _probe(tmp_path, **env):
    # an empty cache folder: a user's measured choice (jrestore bench --tune-xla) must not change the outcome
    full = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JRESTORE_XLA_DEFAULTS")}
    full["JRESTORE_CACHE"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**full, **env}, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


@pytest.mark.skipif(runtime._jaxlib_version() not in runtime.SUPPORTED_JAXLIB, reason="flag not measured here")
def test_flag_moves_convolutions_off_ynnpack_and_the_opt_out_keeps_them(tmp_path):
    assert _probe(tmp_path) == ["True", "False"]  # applied: the convolution is no YNN fusion
    assert _probe(tmp_path, JRESTORE_XLA_DEFAULTS="0") == ["False", "True"]  # jaxlib's default: a YNN fusion


def test_apply_rules_on_a_given_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "_jaxlib_version", lambda: runtime.SUPPORTED_JAXLIB[0])
    monkeypatch.setenv("JRESTORE_CACHE", str(tmp_path))  # no measured choice: the default rules below
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JRESTORE_CACHE": str(tmp_path)}
    assert runtime.apply_xla_defaults(env)["applied"]
    assert env["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=2 {runtime.CPU_CONV_FLAG}"
    assert not runtime.apply_xla_defaults(env)["applied"]  # once only: the flag is now set
    user = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=+individual_convolution"}
    assert not runtime.apply_xla_defaults(user)["applied"] and user["XLA_FLAGS"].endswith("+individual_convolution")
    off = {"JRESTORE_XLA_DEFAULTS": "0"}
    assert not runtime.apply_xla_defaults(off)["applied"] and "XLA_FLAGS" not in off
    monkeypatch.setattr(runtime, "_jaxlib_version", lambda: (9, 99))
    unknown = {"JRESTORE_CACHE": str(tmp_path)}
    status = runtime.apply_xla_defaults(unknown)
    assert not status["applied"] and "(9, 99)" in status["reason"] and unknown == {"JRESTORE_CACHE": str(tmp_path)}


class _FakeLibc:
    def __init__(self, refuse=()):
        self.calls, self.refuse = [], refuse

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 0 if param in self.refuse else 1


def test_malloc_rules_on_a_given_environment():
    libc = _FakeLibc()
    status = runtime.apply_malloc_defaults({}, libc)
    # glibc's malloc.h numbers: M_ARENA_MAX -8, M_MMAP_MAX -4, M_TRIM_THRESHOLD -1
    assert status["applied"] and libc.calls == [(-8, 1), (-4, 0), (-1, 2**31 - 1)]
    for env in ({"JRESTORE_MALLOC_DEFAULTS": "0"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"},
                {"MALLOC_ARENA_MAX": "4"}):
        libc = _FakeLibc()
        status = runtime.apply_malloc_defaults(env, libc)
        assert not status["applied"] and libc.calls == [] and status["reason"]
    status = runtime.apply_malloc_defaults({}, _FakeLibc(refuse=(-4,)))
    assert not status["applied"] and "M_MMAP_MAX" in status["reason"]


_FAULTS_PROBE = """
import contextlib, ctypes, io, resource, sys, jrestore, jrestore.cli
imported = jrestore.runtime.malloc_defaults_status()["applied"]  # the library alone leaves malloc alone
sys.argv = ["jrestore"]
with contextlib.redirect_stdout(io.StringIO()):
    jrestore.cli.main()  # the program: no command, so it prints its help, after setting the allocator
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size = 256 << 20  # far above glibc's largest mmap threshold (32 MB), like XLA's per-step temporaries
faults = []
for _ in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(imported, jrestore.runtime.malloc_defaults_status()["applied"], faults[1])
"""


@pytest.mark.skipif(runtime._glibc() is None, reason="glibc only")
def test_malloc_setting_keeps_a_freed_block_mapped():
    def probe(**env):
        full = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}
        out = subprocess.run([sys.executable, "-c", _FAULTS_PROBE], env={**full, **env}, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        imported, applied, faults = out.stdout.split()
        assert imported == "False"
        return applied, int(faults)

    applied, faults = probe(JRESTORE_MALLOC_DEFAULTS="1")
    assert applied == "True" and faults < 16  # the second 256 MB block reuses the first one's pages
    applied, faults = probe(JRESTORE_MALLOC_DEFAULTS="0")
    # a fresh mmap, faulted again: 65536 4 KiB pages, or 128 2 MiB ones with transparent huge pages
    assert applied == "False" and faults >= 128
