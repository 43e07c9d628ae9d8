"""jrestore.layers / jrestore.ops.pixel_shuffle against their torch_ref twins.

Every layer: torch module perturbed (harness.perturb_), converted by rule, then outputs in eval AND train
mode (tolerances.LAYER), gradients of a random projection of the output with respect to the input and to
every parameter (tolerances.GRADIENT, relative; torch grads compared in PyTorch layout through the same
conversion), and in train mode the updated buffers (BatchNorm running statistics and counter).
Initialisation is compared by distribution (different random streams): std within 5 %.
"""
import copy
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import jrestore.layers as jl
import torch_ref.layers as tl
from jrestore.convert import load_torch_state_dict, torch_state_dict
from jrestore.layers import init as jinit
from jrestore.ops import pixel_shuffle as j_ps
from jrestore.parity.harness import assert_close, perturb_, torch_input
from jrestore.parity.tolerances import (FLOAT32_ROUNDING, GRADIENT, INIT_MAX_CROSS_FRAMEWORK, INIT_STD_CROSS_FRAMEWORK,
                                        LAYER, OP, STAT_Z)
from torch_ref.layers import init as tinit
from torch_ref.ops import pixel_shuffle as t_ps


def _x(shape, seed=0, low=-0.2, high=1.2):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _state(tm):
    # copies: load_torch_state_dict may alias torch's memory (jnp.asarray of tensor.numpy() is zero-copy on
    # CPU), and these tests go on to update the torch module's buffers in place
    return {k: v.detach().clone() for k, v in tm.state_dict().items()}


def _abstract(make):
    """The jrestore module with shapes only (no random init to compile): every leaf comes from torch."""
    return nnx.eval_shape(make)


def _convert(tm, jm, seed=0, perturb=True):
    if perturb:
        perturb_(tm, seed)
    load_torch_state_dict(jm, _state(tm), source=type(tm).__name__)
    return tm, jm


@functools.partial(jax.jit, static_argnums=0)  # one compile per graph; mode-free layers share it
def _loss_and_grads(graphdef, params, rest, x, w):
    def loss(p, xx):
        m = nnx.merge(graphdef, p, rest, copy=True)
        y = m(xx)
        return jnp.sum(y * w), (y, nnx.state(m, nnx.BatchStat))

    return jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, x)


def _run_both(tm, jm, x, mode):
    """One forward + backward of sum(out * w) in `mode` on copies; returns the reports' inputs."""
    tm, jm = copy.deepcopy(tm), nnx.clone(jm)
    getattr(tm, mode)(); getattr(jm, mode)()
    xt = torch_input(x).requires_grad_(True)
    out_t = tm(xt)
    w_t = torch.from_numpy(np.random.default_rng(99).normal(size=tuple(out_t.shape)).astype(np.float32))
    (out_t * w_t).sum().backward()
    w_j = jnp.asarray(w_t.numpy().transpose(0, 2, 3, 1) if w_t.ndim == 4 else w_t.numpy())

    graphdef, params, rest = nnx.split(jm, nnx.Param, ...)
    (_, (out_j, stats)), (g_p, g_x) = _loss_and_grads(graphdef, params, rest, jnp.asarray(x), w_j)
    nnx.update(jm, stats)
    grads_sd = torch_state_dict(nnx.merge(graphdef, g_p, rest, copy=True))
    t_grads = {k: p.grad for k, p in tm.named_parameters()}
    return {"out": (out_j, out_t.detach()), "x_grad": (g_x, xt.grad),
            "param_grads": ({k: grads_sd[k] for k in t_grads}, t_grads),
            "state": (dict(torch_state_dict(jm)), dict(tm.state_dict()))}


def check_layer(tm, jm, x, *, seed=0, modes=("eval", "train"), zero_in_train=(), perturb=True):
    """Assert parity of outputs, input and parameter gradients and (train) buffers; returns max-abs numbers.

    zero_in_train: parameters whose gradient is analytically 0 in train mode (a bias feeding a train-mode
    BatchNorm, which subtracts it again); both frameworks return float32 cancellation noise there, so
    they are checked to be ~0 relative to the layer's largest gradient instead of against each other.
    perturb: False when the caller has already set the torch module's values.
    """
    _convert(tm, jm, seed, perturb)
    assert sorted(torch_state_dict(jm)) == sorted(tm.state_dict()), "state paths differ from torch keys"
    seen = {}
    for mode in modes:
        r = _run_both(tm, jm, x, mode)
        rep = assert_close(*r["out"], LAYER, f"{mode}.out")
        rep.update(assert_close(*r["x_grad"], GRADIENT, f"{mode}.x_grad", relative=True))
        j_g, t_g = r["param_grads"]
        if mode == "train" and zero_in_train:
            scale = max(1.0, max(float(g.abs().max()) for g in t_g.values()))
            for k in zero_in_train:
                assert max(float(np.abs(j_g.pop(k)).max()), float(t_g.pop(k).abs().max())) <= GRADIENT * scale, k
        if t_g:
            rep.update(assert_close(j_g, t_g, GRADIENT, f"{mode}.grad", relative=True, layout="none"))
        rep.update(assert_close(*r["state"], LAYER, f"{mode}.state", layout="none"))
        seen.update({k: v["max_abs"] for k, v in rep.items()})
    return seen


# ---------------------------------------------------------------------------------------------- layers

CASES = {
    "linear": (lambda: torch.nn.Linear(24, 10), lambda r: jl.Linear(24, 10, rngs=r), (3, 24)),
    "linear_nobias": (lambda: tl.Linear(7, 5, bias=False), lambda r: jl.Linear(7, 5, bias=False, rngs=r), (4, 7)),
    "bn": (lambda: tl.BatchNorm2d(5), lambda r: jl.BatchNorm2d(5), (2, 17, 15, 5)),
    "bn_kair": (lambda: tl.BatchNorm2d(5, eps=1e-4, momentum=0.9), lambda r: jl.BatchNorm2d(5, eps=1e-4, momentum=0.9),
                (3, 9, 7, 5)),
    "bn_noaffine": (lambda: tl.BatchNorm2d(3, affine=False), lambda r: jl.BatchNorm2d(3, affine=False), (2, 17, 15, 3)),
    "bn_nostats": (lambda: tl.BatchNorm2d(3, track_running_stats=False),
                   lambda r: jl.BatchNorm2d(3, track_running_stats=False), (2, 17, 15, 3)),
    "bn_cumulative": (lambda: tl.BatchNorm2d(4, momentum=None), lambda r: jl.BatchNorm2d(4, momentum=None),
                      (2, 5, 3, 4)),
    "prelu_scalar": (lambda: tl.PReLU(), lambda r: jl.PReLU(), (2, 17, 15, 3)),
    "prelu_channel": (lambda: tl.PReLU(6, init=0.1), lambda r: jl.PReLU(6, init=0.1), (2, 17, 15, 6)),
    "leaky_relu": (lambda: tl.LeakyReLU(0.2), lambda r: jl.LeakyReLU(0.2), (2, 17, 15, 3)),
    "relu": (lambda: tl.ReLU(), lambda r: jl.ReLU(), (2, 17, 15, 3)),
    "sigmoid": (lambda: tl.Sigmoid(), lambda r: jl.Sigmoid(), (2, 17, 15, 3)),
    "tanh": (lambda: tl.Tanh(), lambda r: jl.Tanh(), (2, 17, 15, 3)),
    "gelu": (lambda: tl.GELU(), lambda r: jl.GELU(), (2, 17, 15, 3)),
    "gelu_tanh": (lambda: tl.GELU("tanh"), lambda r: jl.GELU("tanh"), (2, 17, 15, 3)),
    "pixel_shuffle": (lambda: tl.PixelShuffle(3), lambda r: jl.PixelShuffle(3), (2, 5, 7, 18)),
    "pixel_unshuffle": (lambda: tl.PixelUnshuffle(2), lambda r: jl.PixelUnshuffle(2), (2, 18, 14, 3)),
    "sequential": (lambda: tl.Sequential(tl.Conv2d(3, 8, 3, padding=1), tl.LeakyReLU(0.1), tl.Conv2d(8, 4, 1),
                                         tl.BatchNorm2d(4), tl.PReLU(4)),
                   lambda r: jl.Sequential(jl.Conv2d(3, 8, 3, padding=1, rngs=r), jl.LeakyReLU(0.1),
                                           jl.Conv2d(8, 4, 1, rngs=r), jl.BatchNorm2d(4), jl.PReLU(4)),
                   (2, 17, 15, 3)),
    "depthwise_separable": (lambda: tl.DepthwiseSeparableConv2d(4, 6),
                            lambda r: jl.DepthwiseSeparableConv2d(4, 6, rngs=r), (2, 17, 15, 4)),
    "depthwise_separable_k5": (
        lambda: tl.DepthwiseSeparableConv2d(3, 5, kernel_size=5, padding=2, bias=False),
        lambda r: jl.DepthwiseSeparableConv2d(3, 5, kernel_size=5, padding=2, bias=False, rngs=r), (2, 17, 15, 3)),
    "residual_no_bn": (lambda: tl.ResidualBlockNoBN(6, res_scale=0.5),
                       lambda r: jl.ResidualBlockNoBN(6, res_scale=0.5, rngs=r), (2, 17, 15, 6)),
    "srresnet_block": (lambda: tl.SRResNetBlock(6), lambda r: jl.SRResNetBlock(6, rngs=r), (2, 17, 15, 6)),
    "upsampler_x2": (lambda: tl.Upsampler(2, 4), lambda r: jl.Upsampler(2, 4, rngs=r), (2, 9, 7, 4)),
    "upsampler_x3": (lambda: tl.Upsampler(3, 4), lambda r: jl.Upsampler(3, 4, rngs=r), (2, 9, 7, 4)),
    "upsampler_x4": (lambda: tl.Upsampler(4, 3), lambda r: jl.Upsampler(4, 3, rngs=r), (2, 5, 3, 3)),
    "channel_attention": (lambda: tl.ChannelAttention(32, 8), lambda r: jl.ChannelAttention(32, 8, rngs=r),
                          (2, 17, 15, 32)),
}

ZERO_IN_TRAIN = {"sequential": ("2.bias",), "srresnet_block": ("conv1.bias", "conv2.bias")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_parity(case):
    make_t, make_j, shape = CASES[case]
    check_layer(make_t(), _abstract(lambda: make_j(nnx.Rngs(0))), _x(shape, seed=len(case)), seed=len(case),
                zero_in_train=ZERO_IN_TRAIN.get(case, ()))


@pytest.mark.parametrize("chunk_size", [None, 10])
def test_self_attention_parity(chunk_size):
    tm = tl.SelfAttention2d(16, chunk_size=chunk_size)
    jm = _abstract(lambda: jl.SelfAttention2d(16, chunk_size=chunk_size, rngs=nnx.Rngs(0)))
    perturb_(tm, 4)
    with torch.no_grad():
        tm.gamma.fill_(0.7)  # perturb_ moves it off 0 by ~0.1; make the attention path dominate
    x = _x((2, 9, 7, 16), seed=4)
    with torch.no_grad():
        assert float((tm(torch_input(x)) - torch_input(x)).abs().max()) > 0.1  # attention is exercised
    check_layer(tm, jm, x, perturb=False)
    assert sorted(torch_state_dict(jm)) == ["gamma", "key_conv.bias", "key_conv.weight", "query_conv.bias",
                                           "query_conv.weight", "value_conv.bias", "value_conv.weight"]


# jrestore's lax.map blocks against torch_ref's single [B, HW, HW] matrix and the reverse (63 pixels: 8 and 16
# leave a ragged last block); "auto" at 63 pixels is the naive path on both sides. The layer has no
# train/eval difference, so eval only.
@pytest.mark.parametrize("torch_chunk, jax_chunk", [(None, 8), (None, 1), (16, None), ("auto", "auto")])
def test_self_attention_chunked_against_the_other_framework(torch_chunk, jax_chunk):
    tm = tl.SelfAttention2d(16, chunk_size=torch_chunk)
    jm = _abstract(lambda: jl.SelfAttention2d(16, chunk_size=jax_chunk, rngs=nnx.Rngs(0)))
    perturb_(tm, 5)
    with torch.no_grad():
        tm.gamma.fill_(0.7)
    check_layer(tm, jm, _x((2, 9, 7, 16), seed=5), perturb=False, modes=("eval",))


# ---------------------------------------------------------------------------------------------- BatchNorm

def _bn_pair(momentum=0.1, c=5):
    tm = perturb_(tl.BatchNorm2d(c, momentum=momentum), 7)
    jm = load_torch_state_dict(_abstract(lambda: jl.BatchNorm2d(c, momentum=momentum)), _state(tm))
    return tm, jm


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_running_stats_after_1_and_3_steps(momentum):
    tm, jm = _bn_pair(momentum)
    tm.train(); jm.train()
    xs = [_x((2, 17, 15, 5), seed=s, low=-1.0 + s, high=2.0 + 2 * s) for s in range(3)]
    for step, x in enumerate(xs, 1):
        with torch.no_grad():
            t_out = tm(torch_input(x))
        assert_close(jm(jnp.asarray(x)), t_out, LAYER, f"step{step}.out")
        if step in (1, 3):
            rep = assert_close(dict(torch_state_dict(jm)), dict(tm.state_dict()), LAYER, f"step{step}", layout="none")
            assert rep[f"step{step}.num_batches_tracked"]["max_abs"] == 0.0
    # eval after training uses the updated running statistics
    tm.eval(); jm.eval()
    with torch.no_grad():
        assert_close(jm(jnp.asarray(xs[0])), tm(torch_input(xs[0])), LAYER, "eval_after")


def _np_running_stats(xs, rm, rv, count, momentum, unbiased=True):
    """PyTorch's documented BatchNorm2d update in float64: running = (1 - f) running + f batch, with the
    UNBIASED batch variance (n / (n - 1), n = B * H * W) and f = momentum, or 1 / num_batches_tracked
    (after the increment) when momentum is None."""
    for x in xs:
        x = x.astype(np.float64)
        n = x.shape[0] * x.shape[1] * x.shape[2]
        mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2)) * (n / (n - 1) if unbiased else 1.0)
        count += 1
        f = 1.0 / count if momentum is None else momentum
        rm, rv = (1 - f) * rm + f * mean, (1 - f) * rv + f * var
    return rm, rv, count


@pytest.mark.parametrize("momentum", [0.5, None])
def test_batchnorm_conventions_exposed_by_a_small_batch(momentum):
    # Perturbed parity cases use n = B*H*W in the hundreds (n / (n - 1) - 1 ~ 2e-3) and, for momentum=None,
    # a num_batches_tracked of up to 1000 (factor ~1e-3): both hide a biased variance or an off-by-one
    # cumulative factor under LAYER. Here n = 6 (factor 1.2), the counter starts at 0 (factors 1, 1/2, 1/3),
    # and the test first checks that the two conventions are far apart, so it can fail.
    c = 3
    tm = tl.BatchNorm2d(c, momentum=momentum)
    with torch.no_grad():
        tm.running_mean.copy_(torch.tensor([0.3, -0.2, 0.1]))
        tm.running_var.copy_(torch.tensor([0.5, 1.5, 2.0]))
    jm = load_torch_state_dict(_abstract(lambda: jl.BatchNorm2d(c, momentum=momentum)), _state(tm))
    tm.train(); jm.train()
    xs = [_x((2, 3, 1, c), seed=40 + s, low=-1.0 - s, high=2.0 + s) for s in range(3)]
    rm0, rv0 = tm.running_mean.double().numpy().copy(), tm.running_var.double().numpy().copy()
    for step in range(1, 4):
        with torch.no_grad():
            tm(torch_input(xs[step - 1]))
        jm(jnp.asarray(xs[step - 1]))
        rm, rv, count = _np_running_stats(xs[:step], rm0, rv0, 0, momentum)
        biased = _np_running_stats(xs[:step], rm0, rv0, 0, momentum, unbiased=False)[1]
        shifted = _np_running_stats(xs[:step], rm0, rv0, 1, momentum)  # 1 / (count + 1): off by one
        assert np.abs(rv - biased).max() > 100 * LAYER
        if momentum is None:
            assert np.abs(rv - shifted[1]).max() > 100 * LAYER and np.abs(rm - shifted[0]).max() > 100 * LAYER
        for name, module in (("jax", dict(torch_state_dict(jm))), ("torch", dict(tm.state_dict()))):
            np.testing.assert_allclose(np.asarray(module["running_var"], np.float64), rv, rtol=0, atol=LAYER,
                                       err_msg=f"{name} running_var after step {step}")
            np.testing.assert_allclose(np.asarray(module["running_mean"], np.float64), rm, rtol=0, atol=LAYER,
                                       err_msg=f"{name} running_mean after step {step}")
            assert int(module["num_batches_tracked"]) == count == step


def test_batchnorm_under_jit_with_split_state():
    tm, jm = _bn_pair()
    tm.train(); jm.train()

    @functools.partial(jax.jit, static_argnums=0)
    def step(graphdef, state, x):  # the mode lives in the graphdef (a static attribute)
        m = nnx.merge(graphdef, state, copy=True)
        y = m(x)
        return y, nnx.state(m)

    graphdef, state = nnx.split(jm)
    for s in range(3):
        x = _x((3, 9, 7, 5), seed=10 + s, low=-2.0, high=3.0)
        y, state = step(graphdef, state, jnp.asarray(x))
        with torch.no_grad():
            assert_close(y, tm(torch_input(x)), LAYER, f"jit.step{s}")
    nnx.update(jm, state)
    assert_close(dict(torch_state_dict(jm)), dict(tm.state_dict()), LAYER, "jit.state", layout="none")
    # the eval switch set outside jit is honoured inside it
    tm.eval(); jm.eval()
    graphdef, state = nnx.split(jm)
    y, state2 = step(graphdef, state, jnp.asarray(x))
    with torch.no_grad():
        assert_close(y, tm(torch_input(x)), LAYER, "jit.eval")
    assert int(state2["num_batches_tracked"][...]) == int(tm.num_batches_tracked)


# ---------------------------------------------------------------------------------------------- ops

@pytest.mark.parametrize("r,shape", [(2, (2, 9, 7, 12)), (3, (2, 5, 7, 18)), (1, (1, 4, 3, 2))])
def test_pixel_shuffle_op_parity(r, shape):
    x = _x(shape, seed=r)
    y = j_ps.pixel_shuffle(jnp.asarray(x), r)
    assert_close(y, t_ps.pixel_shuffle(torch_input(x), r), 0.0, "pixel_shuffle")  # a permutation: exact
    assert_close(j_ps.pixel_unshuffle(y, r), t_ps.pixel_unshuffle(torch_input(np.asarray(y)), r), 0.0, "unshuffle")


def test_pixel_shuffle_errors_torch():
    with pytest.raises(ValueError, match=r"x channels .*expected a multiple of 4, got 6"):
        t_ps.pixel_shuffle(torch.zeros(1, 6, 3, 3), 2)
    with pytest.raises(ValueError, match="x: expected height and width divisible by 3, got 9x7"):
        t_ps.pixel_unshuffle(torch.zeros(1, 2, 9, 7), 3)
    with pytest.raises(ValueError, match="r: expected a positive int, got 0"):
        t_ps.pixel_shuffle(torch.zeros(1, 4, 3, 3), 0)
    with pytest.raises(ValueError, match="rank-4 NCHW"):
        t_ps.pixel_shuffle(torch.zeros(4, 3, 3), 2)
    with pytest.raises(ValueError, match="floating-point"):
        t_ps.pixel_shuffle(torch.zeros(1, 4, 3, 3, dtype=torch.int64), 2)


def test_layer_errors_torch_twins():
    with pytest.raises(ValueError, match="scale: expected 3 or a power of 2"):
        tl.Upsampler(5, 4)
    with pytest.raises(ValueError, match="channels: expected at least 16 channels"):
        tl.ChannelAttention(8, 16)
    with pytest.raises(ValueError, match="in_dim: expected at least 8 channels"):
        tl.SelfAttention2d(4)
    with pytest.raises(ValueError, match="x: expected 16 channels"):
        tl.SelfAttention2d(16)(torch.zeros(1, 8, 3, 3))
    with pytest.raises(ValueError, match="x: expected 32 channels"):
        tl.ChannelAttention(32)(torch.zeros(1, 16, 3, 3))


# ---------------------------------------------------------------------------------------------- init

def _rel(a, b):
    return abs(a - b) / abs(b)


def test_default_init_statistics_match_torch():
    torch.manual_seed(0)
    pairs = {
        "conv": (torch.nn.Conv2d(64, 64, 3), jl.Conv2d(64, 64, 3, rngs=nnx.Rngs(0))),
        "conv_transpose": (torch.nn.ConvTranspose2d(64, 32, 4), jl.ConvTranspose2d(64, 32, 4, rngs=nnx.Rngs(1))),
        "linear": (torch.nn.Linear(400, 300), jl.Linear(400, 300, rngs=nnx.Rngs(2))),
    }
    for name, (tm, jm) in pairs.items():
        t_std = float(tm.weight.detach().std())
        j_sd = torch_state_dict(jm)
        assert _rel(float(np.std(j_sd["weight"])), t_std) < INIT_STD_CROSS_FRAMEWORK, name
        # the bounds are 1/sqrt(fan_in) in both (uniform): max |w| is within 1 % of the bound
        t_max = float(tm.weight.detach().abs().max())
        assert _rel(float(np.abs(j_sd["weight"]).max()), t_max) < INIT_MAX_CROSS_FRAMEWORK, name
        bias_bound = 1.0 / math.sqrt(tm.weight[0].numel())
        assert float(np.abs(j_sd["bias"]).max()) <= bias_bound * (1 + FLOAT32_ROUNDING), name
    conv_std = float(np.std(torch_state_dict(pairs["conv"][1])["weight"]))
    assert _rel(conv_std, 1 / math.sqrt(3 * 576)) < INIT_STD_CROSS_FRAMEWORK


def test_prelu_and_batchnorm_init_equal_torch():
    for tm, jm in [(tl.PReLU(), jl.PReLU()), (tl.PReLU(7), jl.PReLU(7)), (tl.BatchNorm2d(4), jl.BatchNorm2d(4))]:
        t_sd, j_sd = tm.state_dict(), torch_state_dict(jm)
        assert sorted(j_sd) == sorted(t_sd)
        for k in t_sd:
            np.testing.assert_array_equal(j_sd[k], t_sd[k].numpy(), err_msg=k)
    assert float(jl.PReLU().weight[0]) == 0.25


_SHAPE = (128, 64, 3, 3)  # PyTorch layout; 73728 draws: the std of a std estimate is ~0.3 %

INITS = {
    "kaiming_normal": {},
    "kaiming_normal_fan_out_relu": {"mode": "fan_out", "nonlinearity": "relu"},
    "kaiming_uniform": {"a": math.sqrt(5)},
    "xavier_normal": {"gain": 2.0},
    "xavier_uniform": {},
    "normal": {"std": 0.02},
    "orthogonal": {"gain": 0.2},
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_init_distributions_match_torch(name):
    fn_name = name.split("_fan")[0]
    kw = INITS[name]
    j = np.asarray(getattr(jinit, fn_name)(jax.random.key(0), _SHAPE, **kw))
    t = getattr(tinit, fn_name)(torch.Generator().manual_seed(0), _SHAPE, **kw).numpy()
    assert j.shape == t.shape == _SHAPE
    assert _rel(j.std(), t.std()) < INIT_STD_CROSS_FRAMEWORK, (j.std(), t.std())
    assert abs(j.mean()) < STAT_Z * t.std() / math.sqrt(j.size)
    if "uniform" in name:
        assert _rel(np.abs(j).max(), np.abs(t).max()) < INIT_MAX_CROSS_FRAMEWORK


@pytest.mark.parametrize("shape", [(16, 8, 3, 3), (100, 20)])
def test_orthogonal_structure_matches_torch(shape):
    j = np.asarray(jinit.orthogonal(jax.random.key(1), shape, gain=0.5), np.float64).reshape(shape[0], -1)
    t = tinit.orthogonal(torch.Generator().manual_seed(1), shape, gain=0.5).numpy()
    t = t.astype(np.float64).reshape(shape[0], -1)
    for m in (j, t):  # the smaller side is orthonormal (times gain^2)
        gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
        np.testing.assert_allclose(gram, 0.25 * np.eye(gram.shape[0]), atol=10 * OP)


def test_init_weights_mirrors_torch_default_init_weights():
    """BasicSR default_init_weights(..., 0.1): kaiming_normal x 0.1, zero bias, on Conv2d and Linear only."""
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(64, 64, 3), torch.nn.ReLU(), torch.nn.Linear(400, 300),
                             torch.nn.ConvTranspose2d(64, 32, 4))
    jm = jl.Sequential(jl.Conv2d(64, 64, 3, rngs=nnx.Rngs(0)), jl.ReLU(), jl.Linear(400, 300, rngs=nnx.Rngs(0)),
                       jl.ConvTranspose2d(64, 32, 4, rngs=nnx.Rngs(0)))
    before = torch_state_dict(jm)["3.weight"].copy()
    tinit.init_weights(tm, tinit.kaiming_normal, scale=0.1, bias_fill=0.0)
    jinit.init_weights(jm, jinit.kaiming_normal, key=jax.random.key(0), scale=0.1, bias_fill=0.0)
    j_sd, t_sd = torch_state_dict(jm), tm.state_dict()
    for k in ("0.weight", "2.weight"):
        assert _rel(float(np.std(j_sd[k])), float(t_sd[k].std())) < INIT_STD_CROSS_FRAMEWORK, k
        assert float(np.abs(j_sd[k.replace("weight", "bias")]).max()) == 0.0
    assert _rel(float(np.std(j_sd["0.weight"])), 0.1 * math.sqrt(2 / 576)) < INIT_STD_CROSS_FRAMEWORK
    np.testing.assert_array_equal(j_sd["3.weight"], before)  # ConvTranspose is not a default kind


def test_init_weights_uses_pytorch_layout():
    """Orthogonal init on a conv: the torch-layout [out, in*k*k] rows are orthonormal after conversion,
    as they are for torch.nn.init.orthogonal_ (in jrestore's HWIO layout they would not be)."""
    jm = jl.Conv2d(6, 6, 3, rngs=nnx.Rngs(0))
    jinit.init_weights(jm, functools.partial(jinit.orthogonal, gain=1.0), key=jax.random.key(3))
    tm = torch.nn.Conv2d(6, 6, 3)
    tinit.init_weights(tm, functools.partial(tinit.orthogonal, gain=1.0))
    for w in (torch_state_dict(jm)["weight"], tm.weight.detach().numpy()):
        flat = w.reshape(6, -1).astype(np.float64)
        np.testing.assert_allclose(flat @ flat.T, np.eye(6), atol=10 * OP)


def test_residual_block_init_matches_basicsr_distribution():
    torch.manual_seed(0)
    tm, jm = tl.ResidualBlockNoBN(64), jl.ResidualBlockNoBN(64, rngs=nnx.Rngs(0))
    j_sd, t_sd = torch_state_dict(jm), tm.state_dict()
    for k in ("conv1.weight", "conv2.weight"):
        assert _rel(float(np.std(j_sd[k])), float(t_sd[k].std())) < INIT_STD_CROSS_FRAMEWORK, k
        np.testing.assert_array_equal(j_sd[k.replace("weight", "bias")], 0.0)
        np.testing.assert_array_equal(t_sd[k.replace("weight", "bias")].numpy(), 0.0)
    t_default = tl.ResidualBlockNoBN(64, pytorch_init=True).state_dict()["conv1.weight"]
    j_default = torch_state_dict(jl.ResidualBlockNoBN(64, pytorch_init=True, rngs=nnx.Rngs(0)))["conv1.weight"]
    assert _rel(float(np.std(j_default)), float(t_default.std())) < INIT_STD_CROSS_FRAMEWORK


def test_max_pool_ceil_mode_and_tie_gradients_match_pytorch():
    rng = np.random.default_rng(10)
    x = np.round(rng.uniform(0, 3, (2, 7, 9, 3))).astype(np.float32)  # many ties within windows
    ref = np.full((2, 4, 5, 3), -np.inf)
    for i in range(7):
        for j in range(9):
            ref[:, i // 2, j // 2] = np.maximum(ref[:, i // 2, j // 2], x[:, i, j])
    np.testing.assert_array_equal(np.asarray(jl.MaxPool2d(2, ceil_mode=True)(jnp.asarray(x))), ref)
    np.testing.assert_array_equal(np.asarray(jl.MaxPool2d(2)(jnp.asarray(x))), ref[:, :3, :4])
    up = np.asarray(jl.Upsample(2)(jnp.asarray(x)))
    np.testing.assert_array_equal(up, x[:, np.arange(14) // 2][:, :, np.arange(18) // 2])
    w = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    xt = torch_input(x).requires_grad_()
    (tl.MaxPool2d(2, ceil_mode=True)(xt) * torch_input(w)).sum().backward()
    g = jax.grad(lambda v: jnp.sum(jl.MaxPool2d(2, ceil_mode=True)(v) * w))(jnp.asarray(x))
    assert_close(g, xt.grad, 0.0, "maxpool_grad")  # each window's gradient goes to its first maximum
    tu = tl.Upsample(scale_factor=2)(torch_input(x)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(up, tu)
