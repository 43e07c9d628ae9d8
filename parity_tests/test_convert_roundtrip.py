"""Weight conversion: torch -> jrestore -> torch is bit-exact; mismatches name the key and both shapes."""
import numpy as np
import pytest
import torch
from flax import nnx

from jrestore.convert import ConversionError, load_torch_state_dict, torch_state_dict
from jrestore.layers import BatchNorm2d, Conv2d, ConvTranspose2d
from jrestore.parity.harness import perturb_


class _TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_first = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.body = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, groups=2), torch.nn.Conv2d(8, 8, 1))
        self.up = torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=2)


class _JaxNet(nnx.Module):
    def __init__(self, rngs):
        self.conv_first = Conv2d(3, 8, 3, padding=1, rngs=rngs)
        self.body = nnx.List([Conv2d(8, 8, 3, padding=1, groups=2, rngs=rngs), Conv2d(8, 8, 1, rngs=rngs)])
        self.up = ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=2, rngs=rngs)


def test_roundtrip_is_bit_exact():
    t = perturb_(_TorchNet(), seed=3)
    j = load_torch_state_dict(_JaxNet(nnx.Rngs(0)), t.state_dict())
    back = torch_state_dict(j)
    ref = t.state_dict()
    assert sorted(back) == sorted(ref)
    for k in ref:
        np.testing.assert_array_equal(back[k], ref[k].numpy(), err_msg=k)
        assert back[k].dtype == ref[k].numpy().dtype


def test_loaded_state_does_not_alias_torch_memory():
    t = torch.nn.BatchNorm2d(4)
    j = load_torch_state_dict(BatchNorm2d(4, rngs=nnx.Rngs(0)), perturb_(t, seed=2).state_dict())
    before = np.array(j.running_mean[...])
    t.train()
    t(torch.randn(2, 4, 5, 3) * 3 + 1)  # updates running stats in place
    np.testing.assert_array_equal(np.asarray(j.running_mean[...]), before)


def test_batchnorm_buffers_round_trip():
    t = perturb_(torch.nn.BatchNorm2d(6, eps=1e-4, momentum=0.9), seed=4)
    back = torch_state_dict(load_torch_state_dict(BatchNorm2d(6, eps=1e-4, momentum=0.9, rngs=nnx.Rngs(0)), t.state_dict()))
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(back[k], v.numpy(), err_msg=k)  # num_batches_tracked comes back as int32


def test_module_prefix_is_stripped():
    t = perturb_(_TorchNet(), seed=1)
    sd = {f"module.{k}": v for k, v in t.state_dict().items()}
    j = load_torch_state_dict(_JaxNet(nnx.Rngs(0)), sd)
    np.testing.assert_array_equal(torch_state_dict(j)["up.weight"], t.up.weight.detach().numpy())


def test_shape_mismatch_names_key_and_shapes():
    sd = _TorchNet().state_dict()
    sd["body.1.weight"] = torch.zeros(8, 8, 3, 3)
    with pytest.raises(ConversionError, match=r"'body\.1\.weight' has shape \(8, 8, 3, 3\).*expects \(8, 8, 1, 1\)"):
        load_torch_state_dict(_JaxNet(nnx.Rngs(0)), sd, source="net.pth")


def test_missing_and_unexpected_keys_are_reported():
    sd = _TorchNet().state_dict()
    sd.pop("conv_first.bias")
    sd["extra.weight"] = torch.zeros(2)
    with pytest.raises(ConversionError, match=r"missing 1 key\(s\), first 'conv_first\.bias'.*unexpected 1 key\(s\), first 'extra\.weight'"):
        load_torch_state_dict(_JaxNet(nnx.Rngs(0)), sd)
