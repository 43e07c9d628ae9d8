"""load_state_dict_file (every format, wrappers, refusals) and the safetensors writer / metadata reader."""
import os

import numpy as np
import pytest
import torch

from _matlab_v73 import dncnn_simplenn_layers, write_mat_v73
from jrestore.convert.checkpoints import load_state_dict_file, read_safetensors_metadata, save_safetensors


class Payload:
    """Any custom class: unpickling an instance needs its code, which weights_only=True refuses."""


def _sd(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"conv.weight": torch.randn(4, 2, 3, 3, generator=g), "conv.bias": torch.randn(4, generator=g)}


def test_basicsr_wrapper_prefers_params_ema_and_param_key_selects(tmp_path):
    ema, raw = _sd(0), _sd(1)
    path = tmp_path / "net_g.pth"
    torch.save({"params": raw, "params_ema": ema}, path)
    assert torch.equal(load_state_dict_file(path)["conv.weight"], ema["conv.weight"])
    assert torch.equal(load_state_dict_file(path, param_key="params")["conv.weight"], raw["conv.weight"])
    torch.save({"params": raw}, path)
    assert torch.equal(load_state_dict_file(path)["conv.weight"], raw["conv.weight"])
    with pytest.raises(ValueError, match=r"net_g.pth has no key 'params_ema' \(--param-key\); keys present: \['params'\]"):
        load_state_dict_file(path, param_key="params_ema")


def test_state_dict_wrapper_and_module_prefix(tmp_path):
    path = tmp_path / "kair.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in _sd().items()}, "epoch": 3}, path)
    assert sorted(load_state_dict_file(path)) == ["conv.bias", "conv.weight"]


def test_mat_files_dispatch_to_the_matconvnet_reader(tmp_path):
    import torch_ref.models
    sd = torch_ref.models.get("dncnn", nb=3, nc=4, act_mode="R").state_dict()
    path = tmp_path / "sigma=25.mat"
    write_mat_v73(path, {"net": {"layers": dncnn_simplenn_layers({k: v.numpy() for k, v in sd.items()})}})
    state = load_state_dict_file(path)
    assert list(state) == list(sd) and all(isinstance(v, torch.Tensor) and torch.equal(v, sd[k]) for k, v in state.items())


def test_bad_files_give_one_clear_error_naming_the_file(tmp_path):
    good = tmp_path / "good.pth"
    torch.save(_sd(), good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:200])
    evil = tmp_path / "evil.pth"
    torch.save({"conv.weight": Payload()}, evil)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], listed)
    mixed = tmp_path / "mixed.pth"
    torch.save({"conv.weight": torch.zeros(2), "lr": 0.1}, mixed)
    cases = [(cut, "cannot load .*cut.pth as a PyTorch weights file"),
             (evil, "refusing .*evil.pth: it is a pickle that would run arbitrary code when loaded \\(it needs "
                    "test_checkpoints.Payload\\); not loaded"),
             (listed, "list.pth holds a list, expected a state dict"),
             (mixed, "mixed.pth: key 'lr' holds a float, not a tensor")]
    for path, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            load_state_dict_file(path)
        assert "\n" not in str(err.value)
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="cannot read .*bad.safetensors as safetensors"):
        load_state_dict_file(bad_st)
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_state_dict_file(tmp_path / "absent.pth")


def test_save_safetensors_round_trip_metadata_and_atomicity(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {"view": base.t(),  # non-contiguous
             "shared": base[:2],  # shares storage with the view
             "numpy": np.arange(6, dtype=np.float64).reshape(2, 3)[:, ::2],
             "bn.num_batches_tracked": torch.tensor(7)}
    path = tmp_path / "out.safetensors"
    meta = {"model": "dncnn", "kwargs": {"nb": 17, "act_mode": "R"}, "n": 3}
    save_safetensors(state, path, meta)
    back = load_state_dict_file(path)
    assert torch.equal(back["view"], base.t()) and torch.equal(back["shared"], base[:2])
    assert np.array_equal(back["numpy"].numpy(), state["numpy"]) and back["bn.num_batches_tracked"].dtype == torch.int64
    assert read_safetensors_metadata(path) == meta
    save_safetensors({"a": np.zeros(2, np.float32)}, path, {})  # replaces
    assert list(load_state_dict_file(path)) == ["a"] and read_safetensors_metadata(path) == {}
    with pytest.raises(ValueError, match="key 'bad' holds a str"):
        save_safetensors({"a": np.zeros(2), "bad": "x"}, tmp_path / "never.safetensors", {})
    assert sorted(os.listdir(tmp_path)) == ["out.safetensors"]  # no temporary or partial files left
    from jrestore._io import default_mode
    assert path.stat().st_mode & 0o777 == default_mode()  # not mkstemp's 0600
