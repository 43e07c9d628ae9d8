"""Project-wide pytest setup: full float32 precision and the shared-data fixture."""
import os

import tempfile

os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")  # before jax is imported
# A machine's measured choices (`jrestore bench --tune-xla` writes ~/.cache/jrestore) change float32 rounding;
# the suite runs with an empty cache so every machine tests the same defaults, subprocesses included.
os.environ["JRESTORE_CACHE"] = tempfile.mkdtemp(prefix="jrestore-test-cache-")

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


MODEL_FILES_DNCNN = {"in_nc": 1, "out_nc": 1, "nc": 8, "nb": 3, "act_mode": "BR"}  # BR: BatchNorm counters in the file


def _perturbed_jax_model(name: str, kwargs: dict, seed: int):
    """A jrestore model whose parameters and BatchNorm statistics are all non-default (eval mode)."""
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    import jrestore.models

    model = jrestore.models.get(name, **kwargs, rngs=nnx.Rngs(seed))
    rng = np.random.default_rng(seed)
    for path, var in nnx.iter_graph(model):
        if isinstance(var, nnx.Variable) and jnp.issubdtype(var.get_value().dtype, jnp.floating):
            v = np.asarray(var.get_value())
            v = v + 0.05 * rng.standard_normal(v.shape).astype(v.dtype)
            if isinstance(var, nnx.BatchStat) and path[-1] == "var":  # running variances stay positive
                v = np.abs(v) + 0.5
            var.set_value(jnp.asarray(v))
    model.eval()
    return model


@pytest.fixture(scope="session")
def perturbed_jax_model():
    """fn(name, kwargs, seed) -> a jrestore model with every parameter and statistic moved off its init."""
    return _perturbed_jax_model


@pytest.fixture(scope="module")
def model_files_workdir(tmp_path_factory):
    """A workdir as the trainer leaves one: (dir, latest model, best model); MODEL_FILES_DNCNN arguments,
    model.safetensors at step 40 (val 27.5 dB), best.safetensors at step 20 (28.25 dB), a checkpoints/40."""
    from jrestore.convert.checkpoints import save_model_file

    d = tmp_path_factory.mktemp("run") / "workdir"
    (d / "checkpoints" / "40").mkdir(parents=True)
    kw = MODEL_FILES_DNCNN
    latest, best = _perturbed_jax_model("dncnn", kw, 1), _perturbed_jax_model("dncnn", kw, 2)
    save_model_file(d / "model.safetensors", latest, "dncnn", kw, recipe="dncnn_s25", step=40, val_psnr=27.5)
    save_model_file(d / "best.safetensors", best, "dncnn", kw, recipe="dncnn_s25", step=20, val_psnr=28.25)
    return d, latest, best


# Module-scoped fixtures that take tens of seconds (CI's --durations: setup of the first test using them). Under
# `--dist loadgroup` xdist spreads a module's tests over both workers, and each worker then builds the fixture
# again; the tests using one of these go to one worker instead.
EXPENSIVE_MODULE_FIXTURES = {
    "espcn_run",  # tests/test_bench.py: a `jrestore bench` run of every default impl, 29 s
    "progressive_pair",  # parity_tests/test_ista_net_training.py: 8 progressive steps in both frameworks, 22 s
}


def pytest_itemcollected(item):
    """A test that uses a fixture in EXPENSIVE_MODULE_FIXTURES joins its module's xdist_group (marked here,
    as each test is collected, because xdist reads the groups in its pytest_collection_modifyitems); a test
    that names its own group keeps it."""
    if item.get_closest_marker("xdist_group") is None and \
            EXPENSIVE_MODULE_FIXTURES & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.xdist_group(f"module_fixture:{item.nodeid.split('::')[0]}"))


@pytest.hookimpl(trylast=True)  # after -k / --deselect, and after xdist's own attempt
def pytest_collection_modifyitems(config, items):
    """Makes `--dist loadgroup` honour xdist_group again. pytest-xdist 3.8 tells its scheduler a test's group
    by setting item._nodeid to 'nodeid@group', which pytest 9 no longer reads (a node's id is item._id), so
    every group was spread over both workers and module fixtures ran once per worker. Here the suffix is
    set where pytest 9 keeps the id; nothing changes outside a loadgroup worker or where xdist managed."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        node_id = item.nodeid
        if names and node_id.rfind("@") <= node_id.rfind("]") and hasattr(item, "_id"):
            item._id = type(item._id).parse(f"{node_id}@{'_'.join(names)}")
