"""Compressed-sensing family (ISTA-Net, ISTA-Net+, ISTA, ADMM): parity, official checkpoints, bad input.

The official-checkpoint test reproduces the authors' Set11 protocol (TEST_CS_ISTA_Net_plus.py) on one
image in both frameworks and checks the PSNR against expected_psnr.json.
"""
import json

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io as sio
import torch
from flax import nnx
from PIL import Image

import jrestore.models.classical_cs as jcs
import jrestore.models.ista_net as jin
import torch_ref.models.classical_cs as tcs
import torch_ref.models.ista_net as tin
from jrestore.convert import load_torch_state_dict
from jrestore.ops.cs_blocks import blocks_to_image, image_to_blocks
from jrestore.parity import tolerances
from jrestore.core.models.ista_net import PARITY_BLOCK as SMALL_BLOCK
from jrestore.parity.cases import CASES
from jrestore.parity.harness import assert_close, perturb_, torch_input
from jrestore.parity.model_parity import compare_model

FAMILY = {"ista_net": (jin.ISTANet, tin.ISTANet), "ista_net_plus": (jin.ISTANetPlus, tin.ISTANetPlus),
          "ista": (jcs.ISTA, tcs.ISTA), "admm": (jcs.ADMM, tcs.ADMM)}


def _fmt(result):
    return {k: (v["first_bad"], v["max_abs"]) for k, v in result.items() if isinstance(v, dict) and not v["ok"]}


@pytest.mark.parametrize("name", ["ista_net", "ista_net_plus"])
def test_learned_sampling_parity(name):
    """learn_phi=True: Phi is a trainable parameter, row-normalised in forward; gradients reach it."""
    kwargs = {"num_phases": 2, "cs_ratio": 30, "block_size": SMALL_BLOCK, "learn_phi": True}
    result = compare_model(name, kwargs, CASES[name].inputs(np.random.default_rng(1), False), seed=2,
                           train_mode=False)
    assert result["ok"], _fmt(result)
    assert "grad.phi" in result["grad"]["leaves"] and result["grad"]["leaves"]["grad.phi"]["scale"] > 0


@pytest.mark.parametrize("name", ["ista_net", "ista_net_plus"])
def test_running_the_first_phases_is_the_shorter_network(name):
    """phases=2 on a 3-phase network (progressive training, seed 000) equals a 2-phase network holding the
    first two phases' weights, in both frameworks; 0 or more than num_phases phases is one ValueError."""
    jcls, tcls = FAMILY[name]
    tm3 = perturb_(tcls(num_phases=3, block_size=SMALL_BLOCK), 5)
    tm2 = tcls(num_phases=2, block_size=SMALL_BLOCK)
    tm2.load_state_dict({k: v for k, v in tm3.state_dict().items() if not k.startswith("fcs.2.")})
    jm3 = load_torch_state_dict(jcls(num_phases=3, block_size=SMALL_BLOCK, rngs=nnx.Rngs(0)), tm3.state_dict())
    x = np.random.default_rng(4).random((2, SMALL_BLOCK, SMALL_BLOCK, 1), dtype=np.float32)
    with torch.no_grad():
        t_short = tm3(torch_input(x), phases=2)
        t_two = tm2(torch_input(x))
    assert len(t_short[1]) == 2
    assert torch.equal(t_short[0], t_two[0])  # the same operations on the same values
    j_short = jm3(jnp.asarray(x), phases=2)
    assert len(j_short[1]) == 2
    assert_close(j_short, t_two, tolerances.MODEL, "phases=2", relative=True)
    assert not np.allclose(np.asarray(j_short[0]), np.asarray(jm3(jnp.asarray(x))[0]))  # phase 3 does something
    for bad in (0, 4, 1.5):
        with pytest.raises(ValueError, match=r"phases: expected an integer in 1 \.\. 3"):
            jm3(jnp.asarray(x), phases=bad)
        with pytest.raises(ValueError, match=r"phases: expected an integer in 1 \.\. 3"):
            tm3(torch_input(x), phases=bad)


@pytest.mark.parametrize("name", ["ista_net", "ista_net_plus"])
def test_reconstruct_from_measurements_matches_call(name):
    jcls, tcls = FAMILY[name]
    tm = perturb_(tcls(num_phases=2), 4)
    jm = load_torch_state_dict(jcls(num_phases=2, rngs=nnx.Rngs(0)), tm.state_dict())
    x = np.random.default_rng(3).random((2, 33, 33, 1), dtype=np.float32)
    y = x.reshape(2, -1).astype(np.float64) @ jin.default_phi(25).astype(np.float32).astype(np.float64).T
    j_out = jm.reconstruct(jnp.asarray(y, jnp.float32))
    with torch.no_grad():
        t_out = tm.reconstruct(torch.from_numpy(y.astype(np.float32)))
    assert_close(j_out, t_out, tolerances.MODEL, "reconstruct", relative=True)
    assert_close(j_out, jm(jnp.asarray(x)), tolerances.MODEL, "reconstruct_vs_call", relative=True, layout="NHWC")
    assert j_out[0].shape == (2, 33, 33, 1)
    assert [s.shape for s in j_out[1]] == [(2, 33, 33, 32 if name == "ista_net_plus" else 1)] * 2


# ---- bad input, both frameworks ----

@pytest.mark.parametrize("name", sorted(FAMILY))
def test_bad_input(name):
    jcls, tcls = FAMILY[name]
    jm, tm = jcls(rngs=nnx.Rngs(0)), tcls()
    with pytest.raises(ValueError, match=r"x: expected 1 channels"):
        jm(jnp.zeros((2, 33, 33, 3)))
    with pytest.raises(ValueError, match=r"x: expected 1 channels"):
        tm(torch.zeros(2, 3, 33, 33))
    with pytest.raises(ValueError, match=r"x: expected 33x33 blocks \[N, 33, 33, 1\], got shape \(2, 17, 15, 1\)"):
        jm(jnp.zeros((2, 17, 15, 1)))
    with pytest.raises(ValueError, match=r"x: expected 33x33 blocks \[N, 1, 33, 33\], got shape \(2, 1, 17, 15\)"):
        tm(torch.zeros(2, 1, 17, 15))
    with pytest.raises(ValueError, match=r"x: expected a floating-point array"):
        jm(jnp.zeros((2, 33, 33, 1), jnp.int32))
    with pytest.raises(ValueError, match=r"y: expected measurements of shape \[N, 272\], got shape \(2, 109\)"):
        jm.reconstruct(jnp.zeros((2, 109)))
    with pytest.raises(ValueError, match=r"y: expected measurements of shape \[N, 272\], got shape \(2, 109\)"):
        tm.reconstruct(torch.zeros(2, 109))
    for cls, extra in ((jcls, {"rngs": nnx.Rngs(0)}), (tcls, {})):
        with pytest.raises(ValueError, match=r"phi: expected shape \(109, 1089\) for cs_ratio=10"):
            cls(cs_ratio=10, phi=np.zeros((272, 1089)), **extra)
        with pytest.raises(ValueError, match=r"cs_ratio: expected a percentage in \(0, 100\], got 150"):
            cls(cs_ratio=150, **extra)


def test_bad_arguments_specific():
    for cls, extra in ((jin.ISTANetPlus, {"rngs": nnx.Rngs(0)}), (tin.ISTANetPlus, {})):
        with pytest.raises(ValueError, match=r"qinit: expected None with learn_phi=True"):
            cls(qinit=np.zeros((1089, 272)), learn_phi=True, **extra)
        with pytest.raises(ValueError, match=r"qinit: expected shape \(1089, 272\)"):
            cls(qinit=np.zeros((272, 1089)), **extra)
    for cls, extra in ((jcs.ADMM, {"rngs": nnx.Rngs(0)}), (tcs.ADMM, {})):
        with pytest.raises(ValueError, match=r"transform: expected one of \['dct', 'haar'\], got 'wavelet'"):
            cls(transform="wavelet", **extra)
        with pytest.raises(ValueError, match=r"rho: expected a positive value, got 0"):
            cls(rho=0, **extra)


# ---- official checkpoints (need ../shared/data) ----

OFFICIAL = [  # (expected_psnr.json key, registry name, ratio, checkpoint folder)
    ("ista_net_plus_set11_ratio_25", "ista_net_plus", 25, "CS_ISTA_Net_plus_layer_9_group_1_ratio_25_lr_0.0001"),
    ("ista_net_plus_set11_ratio_10", "ista_net_plus", 10, "CS_ISTA_Net_plus_layer_9_group_1_ratio_10_lr_0.0001"),
    ("ista_net_set11_ratio_25", "ista_net", 25, "CS_ISTA_Net_layer_9_group_1_ratio_25_lr_0.0001"),
]
IMAGE = "house.tif"


def _official(shared_data, ratio, folder):
    mats = shared_data / "cs" / "ista_net" / "sampling_matrix"
    phi = sio.loadmat(mats / f"phi_0_{ratio}_1089.mat")["phi"]
    qinit = sio.loadmat(mats / f"Initialization_Matrix_{ratio}.mat")["Qinit"]
    sd = torch.load(shared_data / "cs" / "ista_net" / "model" / folder / "net_params_200.pkl", weights_only=True,
                    map_location="cpu")
    return phi, qinit, sd


def _protocol_psnr(rec: np.ndarray, org: np.ndarray) -> float:
    """ISTA-Net protocol: clip to [0, 1], times 255 (not rounded) vs the uint8 original, whole image."""
    mse = np.mean((np.clip(rec.astype(np.float64), 0, 1) * 255 - org.astype(np.float64)) ** 2)
    return 100.0 if mse == 0 else 20 * np.log10(255.0 / np.sqrt(mse))


def _numpy_blocks(img: np.ndarray) -> np.ndarray:
    """The official img2col_py after imread_CS_py (always pad by 33 - n % 33), as a loop over blocks."""
    h, w = img.shape
    pad = np.zeros((h + 33 - h % 33, w + 33 - w % 33))
    pad[:h, :w] = img
    return np.stack([pad[r:r + 33, c:c + 33] for r in range(0, pad.shape[0], 33) for c in range(0, pad.shape[1], 33)])


def _load_both(name, ratio, phi, qinit, sd):
    jcls, tcls = FAMILY[name]
    tm = tcls(cs_ratio=ratio, phi=phi, qinit=qinit)
    tm.load_state_dict({k.removeprefix("module."): v for k, v in sd.items()})
    jm = load_torch_state_dict(jcls(cs_ratio=ratio, phi=phi, qinit=qinit, rngs=nnx.Rngs(0)), sd, source="official")
    return jm, tm


def _reconstruct_image(jm, tm, org):
    """The image through both frameworks: jrestore blocks it with jrestore.ops.cs_blocks, torch with a loop."""
    rows, meta = image_to_blocks(jnp.asarray(org, jnp.float32) / 255.0)
    j_rec = blocks_to_image(jm(rows.reshape(-1, 33, 33, 1))[0].reshape(-1, 1089), meta)
    t_blocks = torch.from_numpy((_numpy_blocks(org) / 255.0).astype(np.float32)[:, None])
    with torch.no_grad():
        t_out = tm(t_blocks)[0].numpy()[:, 0]
    h, w = org.shape
    nh, nw = (h + 33 - h % 33) // 33, (w + 33 - w % 33) // 33
    t_rec = t_out.reshape(nh, nw, 33, 33).transpose(0, 2, 1, 3).reshape(nh * 33, nw * 33)[:h, :w]
    return np.asarray(j_rec), t_rec


@pytest.mark.parametrize("key,name,ratio,folder", OFFICIAL)
def test_official_checkpoint_set11_psnr(shared_data, key, name, ratio, folder):
    phi, qinit, sd = _official(shared_data, ratio, folder)
    assert phi.shape[0] == jin.num_measurements(ratio)
    assert sorted(k.removeprefix("module.") for k in sd) == sorted(FAMILY[name][1](num_phases=9).state_dict())
    org = np.asarray(Image.open(shared_data / "cs" / "Set11" / IMAGE).convert("L"))
    expected = json.loads((shared_data / "expected_psnr.json").read_text())[key]["per_image"][IMAGE]
    jm, tm = _load_both(name, ratio, phi, qinit, sd)
    j_rec, t_rec = _reconstruct_image(jm, tm, org)
    pj, pt = _protocol_psnr(j_rec, org), _protocol_psnr(t_rec, org)
    assert abs(pj - expected) < tolerances.PSNR_PUBLISHED_DB, (pj, expected)
    assert abs(pt - expected) < tolerances.PSNR_PUBLISHED_DB, (pt, expected)
    assert abs(pj - pt) < tolerances.PSNR_CROSS_FRAMEWORK_DB, (pj, pt)
    # Element-wise: every official checkpoint has phases with a negative soft_thr, which makes
    # sign(x) * relu(|x| - thr) jump by 2|thr| at x = 0, so a float32 rounding that flips the sign of a
    # near-zero value moves that pixel by up to ~6e-4 (ratio 10) in either framework (each is as far from a
    # float64 run as from the other). With |soft_thr| the same filters, Phi and Qinit agree to <= 8e-6.
    sd_abs = {k: (v.abs() if k.endswith("soft_thr") else v) for k, v in sd.items()}
    tm.load_state_dict({k.removeprefix("module."): v for k, v in sd_abs.items()})
    load_torch_state_dict(jm, sd_abs)
    x = (_numpy_blocks(org)[:24] / 255.0).astype(np.float32)[..., None]
    with torch.no_grad():
        t_abs = tm(torch_input(x))
    assert_close(jm(jnp.asarray(x)), t_abs, tolerances.MODEL, "official_abs_thr", relative=True)
