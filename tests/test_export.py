"""jrestore.export (StableHLO via jax.export), torch_ref.export (ONNX) and `jrestore export`, at small widths.

Every model is perturbed away from its initialisation (noise on every state leaf) so that a wrong or
missing parameter in the exported function would show. Reloaded StableHLO must equal the live jitted
model exactly (parameters are an argument, so XLA compiles the same computation) at two shapes.
"""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jrestore.models
from jrestore import export as jx
from jrestore.parity.tolerances import ONNX_RUNTIME
from jrestore.runtime import use_conv_backend

# name, kwargs, example shape, expected x spec after export (ints stay concrete)
CASES = [
    ("dncnn", dict(nc=8, nb=4), (1, 12, 12, 1), ["b", "h", "w", 1]),
    ("fsrcnn", dict(d=8, s=4, m=1), (1, 10, 10, 1), ["b", "h", "w", 1]),
    ("espcn", dict(), (1, 10, 10, 1), ["b", "h", "w", 1]),
    ("srresnet", dict(num_feat=8, num_block=1), (1, 8, 8, 3), ["b", "h", "w", 3]),
    ("ista_net_plus", dict(num_phases=2), (1, 33, 33, 1), ["b", 33, 33, 1]),
    ("srgan_discriminator", dict(num_feat=4, input_size=32), (1, 32, 32, 3), ["b", 32, 32, 3]),
]


def perturbed(name: str, kwargs: dict, seed: int = 1):
    """The registry model with N(0, 0.05) noise added to every floating state leaf."""
    model = jrestore.models.get(name, **kwargs, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    leaves, tree = jax.tree.flatten(state)
    rng = np.random.default_rng(seed)  # NumPy noise: jax.random would compile once per leaf shape
    leaves = [jnp.asarray(np.asarray(l) + 0.05 * rng.standard_normal(l.shape).astype(l.dtype))
              if jnp.issubdtype(l.dtype, jnp.floating) else l for l in leaves]
    model = nnx.merge(graphdef, jax.tree.unflatten(tree, leaves))
    model.eval()
    return model


def _meta(model, exported, shape, name):
    inputs = jx.describe_inputs(exported, jx.input_names(model))
    inputs[0]["example"] = list(shape)
    return {"model": name, "inputs": inputs}


@pytest.mark.parametrize("name,kwargs,shape,spec", CASES, ids=[c[0] for c in CASES])
def test_export_reload_identical_at_two_shapes(tmp_path, name, kwargs, shape, spec):
    model = perturbed(name, kwargs)
    exported = jx.export_model(model, shape)
    assert set(exported.platforms) == set(jx.EXPORT_PLATFORMS)
    meta = _meta(model, exported, shape, name)
    assert meta["inputs"][0]["shape"] == spec
    params = jx.model_params(model)
    jx.save_exported(exported, tmp_path / "out", meta, params=params)
    fn, meta = jx.load_exported(tmp_path / "out")
    assert meta["platforms"] == list(exported.platforms) and meta["jax_version"] == jax.__version__
    live = jax.jit(jx.inference_fn(model))
    other = jx.other_shape(meta)
    assert other is not None and other != tuple(shape)
    rng = np.random.default_rng(0)
    for s in (tuple(shape), other):
        x = rng.random(s, dtype=np.float32)
        with use_conv_backend("xla"):  # export always traces XLA's convolutions (portable, no oneDNN custom call)
            np.testing.assert_array_equal(np.asarray(fn(x)), np.asarray(live(params, x)), err_msg=f"{name} at {s}")


def test_ffdnet_sigma_is_a_second_input(tmp_path):
    model = perturbed("ffdnet", dict(nc=8, nb=3))
    exported = jx.export_model(model, (1, 8, 8, 1))
    meta = _meta(model, exported, (1, 8, 8, 1), "ffdnet")
    assert [i["shape"] for i in meta["inputs"]] == [["b", "2*h", "2*w", 1], ["b", 1, 1, 1]]
    jx.save_exported(exported, tmp_path, meta, params=jx.model_params(model), overwrite=True)
    fn, _ = jx.load_exported(tmp_path)
    x, sigma = np.random.default_rng(0).random((2, 10, 6, 1), dtype=np.float32), np.full((2, 1, 1, 1), 0.1, np.float32)
    np.testing.assert_array_equal(np.asarray(fn(x, sigma)), np.asarray(model(jnp.asarray(x), jnp.asarray(sigma))))
    with pytest.raises(ValueError, match=r"sigma: this export takes shape \[b, 1, 1, 1\]"):
        fn(x, sigma[:1])  # batch of sigma must match x's


def test_inadmissible_shapes_refused(tmp_path):
    model = perturbed("wasa", dict(num_feat=16, num_block=1))
    with pytest.raises(ValueError, match="x: expected even height and width"):
        jx.export_model(model, (1, 7, 8, 3))  # odd H at export: the model's own error
    with pytest.raises(ValueError, match="input_shape: expected four positive sizes"):
        jx.export_model(model, (8, 8, 3))
    exported = jx.export_model(model, (1, 8, 8, 3))
    jx.save_exported(exported, tmp_path, _meta(model, exported, (1, 8, 8, 3), "wasa"),
                     params=jx.model_params(model), overwrite=True)
    fn, _ = jx.load_exported(tmp_path)
    with pytest.raises(ValueError, match=r"x: this export takes shape \[b, 8, 8, 3\].*got \(1, 7, 8, 3\)"):
        fn(np.zeros((1, 7, 8, 3), np.float32))
    with pytest.raises(ValueError, match="x: expected a floating-point array"):
        fn(np.zeros((1, 8, 8, 3), np.int32))


def test_concrete_and_forced_symbolic():
    model = perturbed("dncnn", dict(nc=8, nb=2))
    assert jx.export_model(model, (2, 6, 6, 1), symbolic=None).in_avals[-1].shape == (2, 6, 6, 1)
    assert str(jx.export_model(model, (2, 6, 6, 1), symbolic=("batch",)).in_avals[-1].shape[0]) == "b"
    with pytest.raises(ValueError, match="symbolic: cannot export WASA with shape"):
        jx.export_model(perturbed("wasa", dict(num_feat=16, num_block=1)), (1, 8, 8, 3),
                        symbolic=("batch", "height", "width"))


def test_save_refuses_existing_files_without_overwrite(tmp_path):
    model = perturbed("espcn", dict())
    exported = jx.export_model(model, (1, 6, 6, 1), symbolic=None)
    meta = _meta(model, exported, (1, 6, 6, 1), "espcn")
    sizes = jx.save_exported(exported, tmp_path / "o", meta, params=jx.model_params(model))
    assert sizes[jx.STABLEHLO_FILE] > 0 and json.loads((tmp_path / "o" / jx.META_FILE).read_text())["model"] == "espcn"
    with pytest.raises(FileExistsError, match="already holds"):
        jx.save_exported(exported, tmp_path / "o", meta, params=jx.model_params(model))
    jx.save_exported(exported, tmp_path / "o", meta, params=jx.model_params(model), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no temp folders left behind


@pytest.mark.parametrize("name,kwargs", [("dncnn", dict(nc=8, nb=4)), ("fsrcnn", dict(d=8, s=4, m=1))])
def test_onnx_round_trip(tmp_path, name, kwargs):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import torch_ref.models
    from jrestore.convert import torch_state_dict
    from torch_ref.export import check_onnx, export_onnx, onnx_input_shapes

    tm = torch_ref.models.get(name, **kwargs)
    tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in torch_state_dict(perturbed(name, kwargs)).items()})
    tm.eval()
    info = export_onnx(tm, torch.rand(1, 1, 12, 12), tmp_path / "m.onnx")
    assert info["dynamic"] == ["batch", "height", "width"]
    assert onnx_input_shapes(tmp_path / "m.onnx") == [["batch", 1, "height", "width"]]
    assert not (tmp_path / "m.onnx.data").exists()  # weights inside the one file
    for shape in ((1, 1, 12, 12), (2, 1, 9, 15)):
        x = torch.rand(*shape)
        with torch.no_grad():
            scale = max(1.0, float(tm(x).abs().max()))
        assert check_onnx(tmp_path / "m.onnx", tm, x) <= ONNX_RUNTIME * scale


def test_cli_writes_files_and_refuses_existing_out(tmp_path, capsys):
    from jrestore.cli import main

    out = tmp_path / "exp"
    argv = ["export", "--model", "dncnn", "--set", "nc=8", "--set", "nb=2", "--shape", "1,8,8,1", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "default initialisation" in printed and "max abs diff 0.000e+00" in printed
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "model.stablehlo", "params.safetensors"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kwargs"] == {"nc": 8, "nb": 2} and meta["inputs"][0]["shape"] == ["b", "h", "w", 1]
    before = (out / "model.stablehlo").read_bytes()

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds" in err[0] and "--overwrite" in err[0]
    assert (out / "model.stablehlo").read_bytes() == before
    assert main(argv + ["--overwrite"]) == 0
