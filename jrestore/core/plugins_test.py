"""jrestore.core.plugins: plugin files and entry points, with spec-only plugins (no framework needed).

Each test works on a copy of the spec registry and a fresh loaded-plugin record (the `sandbox` fixture),
so the names registered here never reach another test.
"""
import os
import sys
import textwrap

import pytest

import jrestore.core.plugins as plugins
import jrestore.core.spec as spec_module
from jrestore.core.plugins import PLUGINS_ENV, PluginError, load_entry_points, load_plugin, load_plugins
from jrestore.core.spec import all_specs, get_spec


@pytest.fixture
def sandbox(monkeypatch):
    all_specs()  # the built-ins first: they belong to the state the test starts from
    monkeypatch.setattr(spec_module, "_SPECS", dict(spec_module._SPECS))
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setenv(PLUGINS_ENV, "")  # restored (here: removed) after the test, whatever load_plugins sets


def _plugin(folder, name, body):
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def _spec_plugin(folder, *model_names, file="models"):
    lines = ["from jrestore.core.spec import ModelSpec, register_spec"]
    lines += [f"register_spec(ModelSpec({n!r}, kind='denoise', channels_arg='in_nc'))" for n in model_names]
    return _plugin(folder, file, "\n".join(lines) + "\n")


def test_load_plugin_registers_once_and_returns_the_new_names(tmp_path, sandbox):
    path = _spec_plugin(tmp_path, "plugin_b", "plugin_a")
    assert load_plugin(path) == ("plugin_a", "plugin_b")
    assert get_spec("plugin_a").channels({"in_nc": 3}) == 3
    # a second load does not run the file again (its register_spec would raise "already registered")
    assert load_plugin(str(path)) == ("plugin_a", "plugin_b")
    assert load_plugin(tmp_path / "." / path.name) == ("plugin_a", "plugin_b")  # the same file, spelt otherwise


@pytest.mark.parametrize("case, message", [
    ("missing", r"^--plugin '.*absent\.py': no such file$"),
    ("folder", r"^--plugin '.*': not a file$"),
    ("not_python", r"^--plugin '.*models\.txt': expected a Python file ending in \.py, got '\.txt'$"),
    ("raises", r"^--plugin '.*broken\.py': importing it raised ZeroDivisionError: division by zero$"),
    ("syntax", r"^--plugin '.*typo\.py': importing it raised SyntaxError: "),
    ("nothing", r"^--plugin '.*empty\.py': it registered no model; expected it to call "
                r"jrestore\.core\.spec\.register_spec\(ModelSpec\(\.\.\.\)\)"),
    ("duplicate", r"^--plugin '.*dup\.py': importing it raised ValueError: model spec 'dncnn' is already registered$"),
])
def test_unusable_plugins_are_one_line_value_errors(tmp_path, sandbox, case, message):
    path = {
        "missing": lambda: tmp_path / "absent.py",
        "folder": lambda: tmp_path,
        "not_python": lambda: _plugin(tmp_path, "models", "x = 1").rename(tmp_path / "models.txt"),
        "raises": lambda: _plugin(tmp_path, "broken", "x = 1 / 0"),
        "syntax": lambda: _plugin(tmp_path, "typo", "def f(:\n    pass"),
        "nothing": lambda: _plugin(tmp_path, "empty", "x = 1"),
        "duplicate": lambda: _spec_plugin(tmp_path, "dncnn", file="dup"),
    }[case]()
    with pytest.raises(PluginError, match=message) as caught:
        load_plugin(path, "--plugin")
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)
    if case == "raises":  # the file's own traceback stays reachable (--debug shows it)
        assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert not [m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == str(path)]  # none left


def test_load_plugins_takes_the_environment_then_the_paths_and_passes_them_on(tmp_path, sandbox, monkeypatch):
    inherited = _spec_plugin(tmp_path, "plugin_inherited", file="inherited")
    given = _spec_plugin(tmp_path, "plugin_given", file="given")
    monkeypatch.setenv(PLUGINS_ENV, str(inherited))
    assert load_plugins([given], entry_points=False) == ("plugin_inherited", "plugin_given")
    # a process started now (the bench's JAX worker) is told about both files
    assert os.environ[PLUGINS_ENV].split(os.pathsep) == [str(inherited.resolve()), str(given.resolve())]
    assert load_plugins([given], entry_points=False) == ("plugin_inherited", "plugin_given")  # idempotent


def test_a_bad_file_in_the_environment_names_the_variable(tmp_path, sandbox, monkeypatch):
    monkeypatch.setenv(PLUGINS_ENV, str(tmp_path / "gone.py"))
    with pytest.raises(PluginError, match=rf"^{PLUGINS_ENV} '.*gone\.py': no such file$"):
        load_plugins(entry_points=False)


def _install_distribution(folder, entry_points: str, modules: dict):
    """A minimal installed distribution on sys.path: dist-info with METADATA and entry_points.txt."""
    info = folder / "jrestore_test_models-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: jrestore-test-models\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\n{entry_points}\n")
    for name, body in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(body))


def test_entry_points_register_by_import_or_by_call(tmp_path, sandbox, monkeypatch):
    _install_distribution(tmp_path, "on_import = jrestore_ep_module\non_call = jrestore_ep_function:register", {
        "jrestore_ep_module": "from jrestore.core.spec import ModelSpec, register_spec\n"
                              "register_spec(ModelSpec('ep_imported', kind='sr', scale_arg='scale'))\n",
        "jrestore_ep_function": "from jrestore.core.spec import ModelSpec, register_spec\n"
                                "def register():\n"
                                "    register_spec(ModelSpec('ep_called', kind=None))\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("jrestore_ep_module", "jrestore_ep_function"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    assert load_entry_points() == {"on_import": ("ep_imported",), "on_call": ("ep_called",)}
    assert get_spec("ep_imported").scale({"scale": 4}) == 4 and get_spec("ep_called").kind is None
    assert load_entry_points() == {"on_import": ("ep_imported",), "on_call": ("ep_called",)}  # once each


def test_an_entry_point_that_registers_nothing_is_named(tmp_path, sandbox, monkeypatch):
    _install_distribution(tmp_path, "idle = jrestore_ep_idle", {"jrestore_ep_idle": "x = 1\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"^entry point idle = 'jrestore_ep_idle' \(group jrestore\.models\): "
                                          r"it registered no model"):
        load_entry_points()
