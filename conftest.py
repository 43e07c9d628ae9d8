"""Project-wide pytest setup: full float32 precision and the shared-data fixture."""
import os

os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")  # before jax is imported

import jax
import pytest

jax.config.update("jax_default_matmul_precision", "highest")

from jrestore.data.paths import DATA_ENV, data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data (or $JRESTORE_DATA); skips the test with the reason when it is absent."""
    path = data_dir()
    if path is None:
        pytest.skip(f"reference data absent: set {DATA_ENV} or place it at ../shared/data")
    return path


@pytest.fixture
def plugin_sandbox(monkeypatch):
    """Models a test registers (e.g. by loading examples/tiny_plugin.py) are forgotten after it: the spec and
    both model registries, the loaded-plugin record and $JRESTORE_PLUGINS are put back, so no other test sees
    them, whatever the order."""
    import importlib
    import sys

    import jrestore.core.plugins as plugins
    import jrestore.core.spec as spec

    spec.all_specs()  # the built-ins belong to the state to keep
    monkeypatch.setattr(spec, "_SPECS", dict(spec._SPECS))
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setenv(plugins.PLUGINS_ENV, "")  # put back (removed) at the end, whatever a command sets
    for name in ("jrestore.models", "torch_ref.models"):  # each scans its families on import
        try:
            registry = importlib.import_module(name)._registry.MODELS
        except ImportError:  # torch_ref without torch
            continue
        monkeypatch.setattr(registry, "_items", dict(registry._items))
    before = set(sys.modules)
    yield
    for module in [m for m in sys.modules if m.startswith("jrestore_plugin_") and m not in before]:
        del sys.modules[module]
