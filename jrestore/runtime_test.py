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
