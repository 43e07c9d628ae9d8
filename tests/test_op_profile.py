"""`jrestore bench --profile-ops`'s categories (jrestore/bench/op_profile.py) on real profiles of a tiny two-layer
conv net's train step in both frameworks, the HLO categorisation of every convolution checked against the net's
own structure, and the torch name rules. No timing is asserted: only that the right categories hold time and
that the shares add up."""
import math

import numpy as np
import pytest

from jrestore.bench import op_profile
from jrestore.bench.op_profile import CATEGORIES

BATCH, HW, CIN, MID, COUT = 4, 12, 3, 8, 3  # two 3x3 convolutions, ReLU between, MSE, Adam


@pytest.fixture(scope="module")
def jax_conv_step():
    """(step, compiled, params) for a jitted train step of conv3x3 -> ReLU -> conv3x3 on XLA's convolutions:
    forward, gradients and an optax Adam update, state kept between calls."""
    import jax
    import jax.numpy as jnp
    import optax
    from jrestore.layers.conv import conv2d_nhwc
    from jrestore.runtime import use_conv_backend

    rng = np.random.default_rng(0)
    params = {"w1": jnp.asarray(rng.standard_normal((3, 3, CIN, MID)), jnp.float32) * 0.2,
              "w2": jnp.asarray(rng.standard_normal((3, 3, MID, COUT)), jnp.float32) * 0.2}
    x = jnp.asarray(rng.random((BATCH, HW, HW, CIN)), jnp.float32)
    y = jnp.asarray(rng.random((BATCH, HW, HW, COUT)), jnp.float32)
    opt = optax.adam(1e-3)
    pad = ((1, 1), (1, 1))

    def loss(p):
        h = jax.nn.relu(conv2d_nhwc(x, p["w1"], padding=pad))
        return jnp.mean((conv2d_nhwc(h, p["w2"], padding=pad) - y) ** 2)

    def train_step(p, s):
        g = jax.grad(loss)(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    with use_conv_backend("xla"):
        compiled = jax.jit(train_step).lower(params, opt.init(params)).compile()
    state = {"p": params, "s": opt.init(params)}

    def step():
        state["p"], state["s"] = compiled(state["p"], state["s"])
        jax.block_until_ready(state["p"])

    step()
    return step, compiled


def test_hlo_categories_find_each_convolution_of_the_net(jax_conv_step):
    """Two forward convolutions, two filter gradients and one input gradient (the input x needs none): the
    categorisation of the compiled module must find exactly these, with the kernels' shapes on the filter
    gradients, and put Adam's update under optimizer."""
    _, compiled = jax_conv_step
    _, cats = op_profile.categorise_hlo(compiled.as_text())
    hlo = op_profile.parse_hlo(compiled.as_text())
    convs = {n: c for n, (c, _) in cats.items() if hlo["instructions"][n]["op"] == "convolution"}
    assert sorted(convs.values()) == ["conv_filter_grad", "conv_filter_grad", "conv_forward", "conv_forward",
                                      "conv_input_grad"]
    filt = sorted(hlo["instructions"][n]["shape"].split("{")[0] for n, c in convs.items() if c == "conv_filter_grad")
    # XLA's canonical filter-gradient output is a permutation of the kernel's dims: compare the element counts
    assert sorted(op_profile._elements(s) for s in filt) == sorted([3 * 3 * CIN * MID, 3 * 3 * MID * COUT])
    assert "optimizer" in {c for c, _ in cats.values()}


def test_jax_profile_of_a_conv_step_fills_the_conv_categories(jax_conv_step):
    step, compiled = jax_conv_step
    prof = op_profile.profile_jax(step, compiled, steps=2)
    assert prof["steps"] == 2 and len(prof["wall_ms"]) == 2 and all(w > 0 for w in prof["wall_ms"])
    s = op_profile.summarise(prof, "jax", None)
    cats = s["categories"]
    for c in ("conv_forward", "conv_input_grad", "conv_filter_grad"):
        assert cats[c]["ms"] > 0, (c, s["top"])
    # every convolution instruction of the module was executed and recorded once per step
    conv_calls = sum(o["count"] for o in prof["ops"].values() if o["category"].startswith("conv_"))
    assert conv_calls == 5 * 2
    assert math.isclose(sum(v["share"] for v in cats.values()), 1.0, rel_tol=1e-9)
    assert set(cats) == set(CATEGORIES) and s["ops_ms"] == pytest.approx(sum(v["ms"] for v in cats.values()))


def test_onednn_custom_calls_map_to_the_three_conv_categories():
    import jax
    import jax.numpy as jnp
    from jrestore.ops import onednn

    if not onednn.available():
        pytest.skip(f"oneDNN convolutions not built here: {onednn.status()['reason']}")
    x = jnp.ones((2, 6, 6, 3), jnp.float32)
    w = jnp.ones((3, 3, 3, 4), jnp.float32)

    def loss(x, w):
        return jnp.sum(onednn.conv2d(x, w, padding=((1, 1), (1, 1))) ** 2)

    text = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(x, w).compile().as_text()
    _, cats = op_profile.categorise_hlo(text)
    hlo = op_profile.parse_hlo(text)
    found = sorted(c for n, (c, _) in cats.items() if hlo["instructions"][n]["op"] == "custom-call")
    assert found == ["conv_filter_grad", "conv_forward", "conv_input_grad"]


def test_torch_profile_of_a_conv_step_fills_the_conv_and_optimizer_categories():
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(CIN, MID, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(MID, COUT, 3, padding=1))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x, y = torch.rand(BATCH, CIN, HW, HW), torch.rand(BATCH, COUT, HW, HW)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()

    step()
    prof = op_profile.profile_torch(step, steps=2)
    s = op_profile.summarise(prof, "torch_eager", None)
    cats = s["categories"]
    for c in ("conv_forward", "conv_backward", "optimizer", "elementwise"):
        assert cats[c]["ms"] > 0, (c, s["top"])
    assert math.isclose(sum(v["share"] for v in cats.values()), 1.0, rel_tol=1e-9)
    # two convolutions forward and two backward per step
    assert prof["ops"]["aten::convolution_backward"]["count"] == 2 * 2
    assert prof["ops"]["aten::convolution"]["count"] == 2 * 2


@pytest.mark.parametrize("name, ancestors, expected", [
    ("aten::add_", ["Optimizer.step#Adam.step"], "optimizer"),
    ("aten::add_", ["autograd::engine::evaluate_function: AddBackward0"], "elementwise"),
    ("aten::convolution_backward", ["ConvolutionBackward0"], "conv_backward"),
    ("aten::mkldnn_convolution", ["aten::_convolution", "aten::convolution"], "conv_forward"),
    ("aten::native_batch_norm", ["aten::batch_norm"], "normalisation"),
    ("aten::empty", ["NativeBatchNormBackward0"], "normalisation"),
    ("aten::pixel_shuffle", [], "layout"),
    ("aten::copy_", [], "layout"),
    ("aten::linalg_vector_norm", [], "reduction"),
    ("aten::mm", [], "matmul"),
    ("aten::empty", [], "other"),
    ("## Call CompiledFxGraph abc ##", ["Torch-Compiled Region: 0/0"], "fused_graph"),
    ("graph_0_cpp_fused_pixel_shuffle_3", [], "layout"),
    ("graph_0_cpp_fused_native_batch_norm_backward_relu_2", [], "normalisation"),
    ("graph_0_cpp_fused_convolution_backward_tanh_backward_1", [], "reduction"),
    ("graph_0_cpp_fused_tanh_1", [], "elementwise"),
])
def test_torch_names_map_to_categories(name, ancestors, expected):
    assert op_profile.torch_category(name, ancestors) == expected


def test_compare_subtracts_per_group_and_scales_to_the_bench_medians():
    jax_p = {"framework": "jax", "steps": 2, "wall_ms": [10.0, 12.0], "ops": {
        "a": {"ms": 8.0, "count": 2, "category": "conv_forward", "what": ""},
        "b": {"ms": 4.0, "count": 2, "category": "conv_filter_grad", "what": ""},
        "c": {"ms": 4.0, "count": 2, "category": "layout", "what": ""}}}
    torch_p = {"framework": "torch", "steps": 1, "wall_ms": [6.0], "ops": {
        "x": {"ms": 3.0, "count": 1, "category": "conv_forward", "what": ""},
        "y": {"ms": 3.0, "count": 1, "category": "conv_backward", "what": ""}}}
    e = op_profile.compare("m", "train", [jax_p], [torch_p], "jax", "torch_eager", 16.0, 12.0)
    d = e["difference"]
    assert d["conv_forward"]["jax_ms"] == 4.0 and d["conv_forward"]["torch_ms"] == 3.0
    assert d["conv_backward_all"]["diff_ms"] == pytest.approx(2.0 - 3.0)
    assert d["layout"]["diff_scaled_ms"] == pytest.approx(0.25 * 16.0 - 0.0)
    assert d["conv_forward"]["diff_scaled_ms"] == pytest.approx(0.5 * 16.0 - 0.5 * 12.0)
    assert e["jax"]["profiled_step_ms"] == 11.0 and e["jax"]["ops_ms"] == 8.0
    # the same shares applied to other step times (a quiet run's medians)
    assert op_profile.rescale(e, 20.0, 10.0)["conv_forward"] == pytest.approx(0.5 * 20.0 - 0.5 * 10.0)
    md = op_profile.markdown([e, {"model": "n", "mode": "infer", "error": "why"}])
    assert "| convolution backward (input + filter) | 2.0 | 25 % | 3.0 | 50 % | -1.0 |" in md
    assert "## n infer: not profiled (why)" in md
