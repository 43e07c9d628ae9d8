"""read_matconvnet_dncnn on MAT-files written as MATLAB writes them (v7.3 / HDF5 and v5)."""
import h5py
import numpy as np
import pytest
import torch

from _matlab_v73 import dncnn_simplenn_layers, write_mat_v5, write_mat_v73
from jrestore.convert.matconvnet import read_matconvnet_dncnn
from jrestore.parity.tolerances import LAYER


def _small_kair_state(seed=0, nb=4, nc=8, channels=1):
    import torch_ref.models
    torch.manual_seed(seed)
    return {k: v.numpy() for k, v in torch_ref.models.get("dncnn", in_nc=channels, out_nc=channels, nc=nc, nb=nb,
                                                          act_mode="R").state_dict().items()}


def _write(path, layers, version="7.3"):
    (write_mat_v73 if version == "7.3" else write_mat_v5)(path, {"net": {"layers": layers}})
    return str(path)


def test_v73_file_from_official_sigma25_weights_gives_the_pth_tensors(shared_data, tmp_path):
    pth = torch.load(shared_data / "denoise" / "weights" / "dncnn_25.pth", weights_only=True)
    path = _write(tmp_path / "sigma=25.mat", dncnn_simplenn_layers({k: v.numpy() for k, v in pth.items()}))
    with open(path, "rb") as fh:
        assert fh.read(19) == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:  # the structure MATLAB writes: refs, reversed axes, gray last W 3-D
        layers = f["net/layers"]
        assert layers.attrs["MATLAB_class"] == b"cell" and layers.shape == (33, 1)
        first, last = (f[f[layers[i, 0]]["weights"][0, 0]] for i in (0, 32))
        assert first.shape == (64, 1, 3, 3) and last.shape == (64, 3, 3) and first.attrs["MATLAB_class"] == b"single"
        relu_type = f[layers[1, 0]]["type"]
        assert relu_type.dtype == np.uint16 and relu_type.attrs["MATLAB_class"] == b"char"
    state = read_matconvnet_dncnn(path)
    assert list(state) == list(pth)
    for key, value in pth.items():
        assert state[key].dtype == np.float32 and np.array_equal(state[key], value.numpy()), key

    import jax.numpy as jnp
    import jrestore.models
    from jrestore.convert import load_torch_state_dict
    x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (1, 12, 10, 1)).astype(np.float32))
    from_mat = load_torch_state_dict(jrestore.models.get("dncnn", nb=17, act_mode="R"), state, source=path)
    from_pth = load_torch_state_dict(jrestore.models.get("dncnn", nb=17, act_mode="R"), pth)
    assert np.array_equal(np.asarray(from_mat(x)), np.asarray(from_pth(x)))


@pytest.mark.parametrize("version", ["7.3", "5"])
def test_small_colour_model_round_trips_in_both_mat_versions(tmp_path, version):
    sd = _small_kair_state(channels=3)
    layers = dncnn_simplenn_layers(sd, trailing=[{"type": "loss", "name": "objective"}])  # training-only layer
    state = read_matconvnet_dncnn(_write(tmp_path / "net.mat", layers, version))
    assert list(state) == list(sd) and all(np.array_equal(state[k], sd[k]) for k in sd)


def test_bnorm_layers_are_folded_into_the_preceding_conv(tmp_path):
    import torch_ref.models
    torch.manual_seed(1)
    bn_model = torch_ref.models.get("dncnn", nb=4, nc=8, act_mode="BR").eval()
    for m in bn_model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    convs = [m for m in bn_model.model if isinstance(m, torch.nn.Conv2d)]
    bns = {i: m for i, m in enumerate(bn_model.model) if isinstance(m, torch.nn.BatchNorm2d)}
    plain = {}
    for n, conv in enumerate(convs):
        plain[f"model.{2 * n}.weight"], plain[f"model.{2 * n}.bias"] = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    layers = dncnn_simplenn_layers(plain)
    for n, (i, bn) in enumerate(sorted(bns.items())):  # MatConvNet moments: [mean, sqrt(var + eps)]
        moments = np.stack([bn.running_mean.numpy(), np.sqrt(bn.running_var.numpy() + bn.eps)], axis=1)
        bnorm = {"type": "bnorm", "name": f"bn{n}", "weights": [bn.weight.detach().numpy().reshape(-1, 1),
                                                                  bn.bias.detach().numpy().reshape(-1, 1), moments]}
        layers.insert(3 + 3 * n, bnorm)  # after body conv n + 2 (the head conv has no BN): conv, bnorm, relu
    state = read_matconvnet_dncnn(_write(tmp_path / "bn.mat", layers))
    folded = torch_ref.models.get("dncnn", nb=4, nc=8, act_mode="R").eval()
    folded.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x = torch.rand(1, 1, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), bn_model(x), atol=LAYER, rtol=LAYER)


def _with(layers, index, **fields):
    layers = [dict(layer) for layer in layers]
    layers[index].update(fields)
    return layers


@pytest.mark.parametrize("change, message", [
    (lambda ls: _with(ls, 0, stride=np.full((1, 2), 2.0)), "stride = [2.0, 2.0]"),
    (lambda ls: _with(ls, 2, pad=np.zeros((1, 4))), "pad = [0.0, 0.0, 0.0, 0.0]"),
    (lambda ls: _with(ls, 1, leak=np.full((1, 1), 0.2)), "leaky ReLU"),
    (lambda ls: _with(ls, 1, type="pool"), "type 'pool'"),
    (lambda ls: ls[:1] + ls[2:], "where a 'relu' was expected"),
    (lambda ls: ls[:-1], "end with a conv"),
])
def test_unsupported_layers_are_refused_naming_file_and_layer(tmp_path, change, message):
    path = _write(tmp_path / "bad.mat", change(dncnn_simplenn_layers(_small_kair_state())))
    with pytest.raises(ValueError, match="bad.mat") as err:
        read_matconvnet_dncnn(path)
    assert message in str(err.value)


def test_non_mat_truncated_and_netless_files_are_refused(tmp_path):
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a MAT-file at all" * 10)
    with pytest.raises(ValueError, match=r"junk.mat: not a MATLAB MAT-file \(expected MATLAB v7.3"):
        read_matconvnet_dncnn(junk)
    good = _write(tmp_path / "good.mat", dncnn_simplenn_layers(_small_kair_state()))
    cut = tmp_path / "cut.mat"
    cut.write_bytes(open(good, "rb").read()[:3000])
    with pytest.raises(ValueError, match="cut.mat"):
        read_matconvnet_dncnn(cut)
    other = tmp_path / "phi.mat"
    write_mat_v73(other, {"phi": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"phi.mat: expected a MatConvNet simplenn struct 'net'.*\['phi'\]"):
        read_matconvnet_dncnn(other)
    with pytest.raises(FileNotFoundError, match="absent.mat"):
        read_matconvnet_dncnn(tmp_path / "absent.mat")
