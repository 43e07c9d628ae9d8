"""jrestore.losses vs torch_ref.losses: values and gradients w.r.t. the prediction, float64 formulas, bad arguments.

Every loss runs on odd, non-square, batch-2 inputs; JAX gradients come from jax.value_and_grad (jax.vjp for
reduction='none', with a random cotangent), torch gradients from autograd. Tolerances: tolerances.py.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import jrestore.losses as jl
import torch_ref.losses as tl
from jrestore.convert import load_torch_state_dict
from jrestore.metrics import ssim, ssim_reference
from jrestore.parity.harness import max_abs_report, perturb_, torch_input
from jrestore.parity.tolerances import LOSS, LOSS_FLOAT64, METRIC, PERCEPTUAL_LOSS, SSIM_LOSS

SHAPE = (2, 13, 11, 3)  # odd, non-square, batch 2; SSIM's 11x11 window fits


def _rng(seed):
    return np.random.default_rng(seed)


def _images(seed, shape=SHAPE, noise=0.08):
    """(pred, target) float32 NHWC: a smooth-ish target and a noisy prediction, some pixels exactly equal."""
    rng = _rng(seed)
    target = np.clip(rng.uniform(0.2, 0.8, shape[:1] + (1, 1, shape[3])) + rng.normal(0, 0.15, shape), 0, 1)
    pred = target + rng.normal(0, noise, shape)
    pred[:, 0, 0, :] = target[:, 0, 0, :]  # ties: |d| and sqrt(d^2 + eps) at d = 0 must agree too
    return pred.astype(np.float32), target.astype(np.float32)


def _t(x):
    """NHWC array (or any other rank) -> torch float tensor in torch_ref's layout."""
    x = np.asarray(x)
    return torch_input(x) if x.ndim == 4 else torch.from_numpy(np.ascontiguousarray(x))


def _assert_rel(jax_value, torch_value, rtol, name):
    """max |jax - torch| <= rtol * max |torch| for every leaf (torch rank-4 leaves taken as NCHW)."""
    bad = []
    for key, r in max_abs_report(jax_value, torch_value, name).items():
        if not r["max_abs"] <= rtol * r["scale"]:
            bad.append(f"{key}: max_abs {r['max_abs']:.3e} > {rtol:.0e} * {r['scale']:.3e} (at {r['argmax']})")
    assert not bad, "Difference between PyTorch and JAX:\n  " + "\n  ".join(bad)


def _jax_vg(fn, args, ct=None):
    """(value, grads w.r.t. every arg); a non-scalar value is pulled back through the cotangent ct."""
    def scalar(*a):
        out = fn(*a)
        return (out if ct is None else jnp.sum(out * ct)), out

    (_, out), grads = jax.value_and_grad(scalar, argnums=tuple(range(len(args))), has_aux=True)(*args)
    return out, grads


def _torch_vg(fn, args, ct=None):
    ts = [a.detach().clone().requires_grad_(True) for a in args]
    out = fn(*ts)
    (out if ct is None else (out * ct).sum()).backward()
    return out.detach(), [t.grad if t.grad is not None else torch.zeros_like(t) for t in ts]


def _both(jfn, tfn, args, ct=None, rtol=LOSS, name="loss"):
    """Compare value and gradients of jfn(*args) and tfn(*torch args); returns the JAX (value, grads)."""
    out, grads = _jax_vg(jfn, [jnp.asarray(a) for a in args], None if ct is None else jnp.asarray(ct))
    t_out, t_grads = _torch_vg(tfn, [_t(a) for a in args], None if ct is None else _t(ct))
    _assert_rel(out, t_out, rtol, f"{name}.value")
    _assert_rel(list(grads), t_grads, rtol, f"{name}.grad")
    return out, grads


# ---------------------------------------------------------------- pixel losses

def _np_pixel(kind, p, t, w, reduction, ct, eps=1e-12):
    """float64 BasicSR formulas: (value, d value / d pred)."""
    p, t = p.astype(np.float64), t.astype(np.float64)
    d = p - t
    if kind == "l1":
        e, de = np.abs(d), np.sign(d)
    elif kind == "mse":
        e, de = d * d, 2 * d
    else:
        e, de = np.sqrt(d * d + eps), d / np.sqrt(d * d + eps)
    if w is not None:
        e, de = e * w, de * w
    if reduction == "none":
        return e, de * ct
    if w is None or reduction == "sum":
        return (e.sum(), de) if reduction == "sum" else (e.mean(), de / e.size)
    denom = w.sum() if w.shape[-1] > 1 else w.sum() * e.shape[-1]
    return e.sum() / denom, de / denom


PIXEL = {"l1": (jl.l1_loss, tl.l1_loss), "mse": (jl.mse_loss, tl.mse_loss),
         "charbonnier": (jl.charbonnier_loss, tl.charbonnier_loss)}


@pytest.mark.parametrize("kind", list(PIXEL))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, "channels", "one"])
def test_pixel_losses(kind, reduction, weight):
    pred, target = _images(1)
    rng = _rng(2)
    w = None if weight is None else rng.uniform(0, 1, SHAPE[:3] + ((3,) if weight == "channels" else (1,)))
    w = None if w is None else w.astype(np.float32)
    ct = rng.normal(size=SHAPE).astype(np.float32) if reduction == "none" else None
    jfn, tfn = PIXEL[kind]
    out, (g,) = _both(lambda p: jfn(p, jnp.asarray(target), None if w is None else jnp.asarray(w), reduction),
                      lambda p: tfn(p, _t(target), None if w is None else _t(w), reduction), [pred], ct,
                      name=f"{kind}.{reduction}")
    ref, ref_g = _np_pixel(kind, pred, target, w, reduction, ct)
    scale = max(np.abs(ref).max(), 1e-30)
    assert np.abs(np.asarray(out, np.float64) - ref).max() <= LOSS_FLOAT64 * scale
    assert np.abs(np.asarray(g, np.float64) - ref_g).max() <= LOSS_FLOAT64 * np.abs(ref_g).max()


def test_charbonnier_eps():
    pred, target = _images(3)
    _both(lambda p: jl.charbonnier_loss(p, jnp.asarray(target), eps=1e-3),
          lambda p: tl.charbonnier_loss(p, _t(target), eps=1e-3), [pred], name="charbonnier.eps")
    ref, _ = _np_pixel("charbonnier", pred, target, None, "mean", None, eps=1e-3)
    assert abs(float(jl.charbonnier_loss(jnp.asarray(pred), jnp.asarray(target), eps=1e-3)) - ref) <= LOSS_FLOAT64 * ref


# ---------------------------------------------------------------- SSIM losses

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ssim_loss(reduction):
    pred, target = _images(4)
    ct = _rng(5).normal(size=SHAPE[:1]).astype(np.float32) if reduction == "none" else None
    _both(lambda p: jl.ssim_loss(p, jnp.asarray(target), reduction),
          lambda p: tl.ssim_loss(p, _t(target), reduction), [pred], ct, rtol=SSIM_LOSS, name=f"ssim.{reduction}")


def test_ssim_loss_is_one_minus_ssim_metric():
    pred, target = _images(6)
    per_image = 1.0 - ssim_reference(pred, target)  # independent float64 NumPy reference
    with jax.enable_x64(True):
        p64, t64 = jnp.asarray(pred, jnp.float64), jnp.asarray(target, jnp.float64)
        loss64 = jl.ssim_loss(p64, t64, reduction="none")
        assert loss64.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(loss64), np.asarray(1.0 - ssim(p64, t64)))  # one code path
        assert np.abs(np.asarray(loss64) - per_image).max() <= METRIC
        assert abs(float(jl.ssim_loss(p64, t64)) - per_image.mean()) <= METRIC
    loss32 = np.asarray(jl.ssim_loss(jnp.asarray(pred), jnp.asarray(target), reduction="none"), np.float64)
    assert np.abs(loss32 - per_image).max() <= SSIM_LOSS * np.abs(per_image).max()  # float32 SSIM map


@pytest.mark.parametrize("ssim_weight", [0.84, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_mixed_l1_ssim_loss(ssim_weight, reduction):
    pred, target = _images(7)
    ct = _rng(8).normal(size=SHAPE[:1]).astype(np.float32) if reduction == "none" else None
    out, _ = _both(lambda p: jl.mixed_l1_ssim_loss(p, jnp.asarray(target), ssim_weight, reduction),
                   lambda p: tl.mixed_l1_ssim_loss(p, _t(target), ssim_weight, reduction), [pred], ct,
                   rtol=SSIM_LOSS, name="mixed")
    # Zhao et al.: alpha (= ssim_weight) weights 1 - SSIM, 1 - alpha weights L1
    expect = ssim_weight * (1 - ssim_reference(pred, target)) + (1 - ssim_weight) * np.abs(
        pred.astype(np.float64) - target).mean(axis=(1, 2, 3))
    expect = expect if reduction == "none" else expect.mean()
    assert np.abs(np.asarray(out, np.float64) - expect).max() <= SSIM_LOSS


# ---------------------------------------------------------------- perceptual loss

PERCEPTUAL_CASES = [
    dict(layer_weights={"conv5_4": 1.0}),  # ESRGAN / BasicSR MSRGAN: conv tap before the ReLU, L1
    dict(layer_weights={"relu1_2": 0.1, "conv3_4": 1.0, 34: 0.5}, criterion="fro", style_weight=0.5),
    # SRGAN's VGG54 (relu5_4) with L2, plus a shallow conv tap and a style term
    dict(layer_weights={"conv2_2": 0.3, "relu5_4": 1.0}, criterion="l2", perceptual_weight=2.0, style_weight=50.0),
    dict(layer_weights={"relu2_2": 1.0, "conv4_3": 0.5}, vgg_type="vgg16", use_input_norm=False, range_norm=True,
         perceptual_weight=0.0, style_weight=2.0),
]


def _torch_perceptual(kw, seed):
    """torch_ref PerceptualLoss with O(1) features at every tap, then perturbed (harness.perturb_)."""
    loss = tl.PerceptualLoss(**kw)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in loss.vgg.features:
            if isinstance(m, torch.nn.Conv2d):
                # He init (torchvision uses kaiming_normal_): PyTorch's default conv init shrinks the features
                # by ~3x per layer, to ~1e-9 at conv5_4, where a relative comparison would be meaningless
                m.weight.normal_(0.0, (2.0 / (m.in_channels * 9)) ** 0.5, generator=g)
                m.bias.uniform_(-0.1, 0.1, generator=g)
    return perturb_(loss, seed)


@pytest.mark.parametrize("case", range(len(PERCEPTUAL_CASES)))
def test_perceptual_loss(case):
    kw = dict(PERCEPTUAL_CASES[case], num_feat=4)  # 4, 8, 16, 32, 32 channels: fast
    t_loss = _torch_perceptual(kw, case)
    j_loss = load_torch_state_dict(jl.PerceptualLoss(**kw), t_loss.state_dict(), source="torch_ref PerceptualLoss")
    assert all(not p.requires_grad for p in t_loss.parameters())
    # conv5_4 needs H, W >= 16; strong noise, so that deep feature differences are not float32 cancellation
    pred, target = _images(10 + case, (2, 19, 17, 3), noise=0.3)
    if kw.get("range_norm"):
        pred, target = pred * 2 - 1, target * 2 - 1
    x, gt = jnp.asarray(pred), jnp.asarray(target)

    @jax.jit  # one compilation for the VGG forward and both pull-backs (eager op-by-op is ~5x slower here)
    def run(x):
        outs, vjp = jax.vjp(lambda p: j_loss(p, gt), x)
        grads = tuple(None if o is None else vjp(tuple(None if k is None else jnp.ones_like(k) * (k is o)
                                                        for k in outs))[0] for o in outs)
        return outs, grads

    outs, grads = run(x)
    t_pred = _t(pred).requires_grad_(True)
    t_outs = t_loss(t_pred, _t(target))
    assert (outs[0] is None, outs[1] is None) == (t_outs[0] is None, t_outs[1] is None)
    assert (outs[0] is None) == (kw.get("perceptual_weight", 1.0) <= 0)
    assert (outs[1] is None) == (kw.get("style_weight", 0.0) <= 0)
    for name, o, g, t_o in zip(("percep", "style"), outs, grads, t_outs):
        if o is None:
            continue
        (t_g,) = torch.autograd.grad(t_o, t_pred, retain_graph=True)
        _assert_rel(o, t_o, PERCEPTUAL_LOSS, f"{name}.value")
        _assert_rel(g, t_g, PERCEPTUAL_LOSS, f"{name}.grad")
        assert float(jnp.abs(o)) > 0 and float(jnp.abs(g).max()) > 0
    assert all(p.grad is None for p in t_loss.parameters())

    # the VGG is frozen: d loss / d (VGG parameters) is exactly zero, the gradient reaches x only
    def total(module, x):
        a, b = module(x, gt)
        return (0.0 if a is None else a) + (0.0 if b is None else b)

    param_grads = nnx.jit(nnx.grad(total))(j_loss, x)
    leaves = jax.tree.leaves(param_grads)
    assert len(leaves) == 2 * 16 - (6 if kw.get("vgg_type") == "vgg16" else 0)  # every conv weight and bias
    assert all(float(jnp.abs(v).max()) == 0.0 for v in leaves)


# ---------------------------------------------------------------- GAN losses

def _logits(seed, shape=(2, 5, 3, 1)):
    x = _rng(seed).normal(0, 1.5, shape).astype(np.float32)
    x.reshape(-1)[:3] = (0.0, 1.0, -1.0)  # the kinks of BCE, hinge and relu: the subgradients must agree
    return x


@pytest.mark.parametrize("gan_type", jl.adversarial.GAN_TYPES)
@pytest.mark.parametrize("target_is_real", [True, False])
@pytest.mark.parametrize("is_disc", [True, False])
def test_gan_loss(gan_type, target_is_real, is_disc):
    x = _logits(20)
    for kw in (dict(), dict(real_label_val=0.9, fake_label_val=0.1, loss_weight=5e-3)):
        _both(lambda v: jl.gan_loss(v, target_is_real, is_disc, gan_type, **kw),
              lambda v: tl.gan_loss(v, target_is_real, is_disc, gan_type, **kw), [x], name=f"gan.{gan_type}")
    if not is_disc:  # loss_weight applies to generators only
        base = float(jl.gan_loss(jnp.asarray(x), target_is_real, False, gan_type))
        assert float(jl.gan_loss(jnp.asarray(x), target_is_real, False, gan_type, loss_weight=0.25)) == \
            pytest.approx(0.25 * base, rel=LOSS)


def test_gan_loss_vanilla_formula():
    x = _logits(21).astype(np.float64)
    for real in (True, False):
        y = 1.0 if real else 0.0
        ref = np.mean(np.logaddexp(0, x) - x * y)  # BCE with logits, float64
        assert float(jl.gan_loss(jnp.asarray(x, jnp.float32), real, True)) == pytest.approx(ref, rel=LOSS_FLOAT64)


@pytest.mark.parametrize("gan_type", ["vanilla", "lsgan", "hinge"])
@pytest.mark.parametrize("for_discriminator", [True, False])
def test_relativistic_gan_loss(gan_type, for_discriminator):
    real, fake = _logits(30, (3, 1)), _logits(31, (3, 1))
    kw = dict(gan_type=gan_type, loss_weight=5e-3)
    out, (g_real, g_fake) = _both(lambda r, f: jl.relativistic_gan_loss(r, f, for_discriminator, **kw),
                                  lambda r, f: tl.relativistic_gan_loss(r, f, for_discriminator, **kw),
                                  [real, fake], name="ragan")
    if not for_discriminator:  # ESRGAN's generator step detaches D(real)
        assert float(jnp.abs(g_real).max()) == 0.0
    if gan_type == "vanilla":  # float64 formula of BasicSR's ESRGANModel
        bce = lambda v, y: np.mean(np.logaddexp(0, v) - v * y)  # noqa: E731
        r, f = real.astype(np.float64), fake.astype(np.float64)
        if for_discriminator:
            ref = 0.5 * bce(r - f.mean(), 1.0) + 0.5 * bce(f - r.mean(), 0.0)
        else:
            ref = 5e-3 * (bce(r - f.mean(), 0.0) + bce(f - r.mean(), 1.0)) / 2
        assert float(out) == pytest.approx(ref, rel=LOSS_FLOAT64)


# ---------------------------------------------------------------- ISTA-Net loss

@pytest.mark.parametrize("gamma", [0.01, 0.5])
def test_ista_net_loss(gamma):
    rng = _rng(40)
    x_rec, x = (rng.uniform(0, 1, (2, 9, 7, 1)).astype(np.float32) for _ in range(2))
    syms = [rng.normal(0, 0.1, (2, 9, 7, 4)).astype(np.float32) for _ in range(3)]
    n = len(syms)

    out, grads = _both(lambda a, *s: jl.ista_net_loss(a, jnp.asarray(x), list(s), gamma),
                       lambda a, *s: tl.ista_net_loss(a, _t(x), list(s), gamma), [x_rec] + syms, name="ista")
    d = x_rec.astype(np.float64) - x
    s64 = [s.astype(np.float64) for s in syms]
    ref = np.mean(d ** 2) + gamma * sum(np.mean(s ** 2) for s in s64)
    ref_grads = [2 * d / d.size] + [gamma * 2 * s / s.size for s in s64]
    assert abs(float(out) - ref) <= LOSS_FLOAT64 * ref
    for g, r in zip(grads, ref_grads):
        assert np.abs(np.asarray(g, np.float64) - r).max() <= LOSS_FLOAT64 * np.abs(r).max()
    c = jl.ista_net_constraint_loss([jnp.asarray(s) for s in syms])
    c_t = tl.ista_net_constraint_loss([_t(s) for s in syms])
    assert abs(float(c) - sum(np.mean(s ** 2) for s in s64)) <= LOSS_FLOAT64 * float(c)
    assert abs(float(c) - float(c_t)) <= LOSS * float(c) and n == 3


# ---------------------------------------------------------------- registry, jit, bad arguments

def test_registry_and_jit():
    assert list(jl.LOSSES) == list(tl.LOSSES) and jl.names() == tl.names()
    for name in jl.names():
        assert jl.get(name).__name__ == tl.get(name).__name__
    pred, target = (jnp.asarray(a) for a in _images(50))
    for name in ("l1", "mse", "charbonnier", "ssim", "mixed_l1_ssim"):
        fn = jl.get(name)  # XLA fuses the jitted SSIM differently: float32 rounding only
        np.testing.assert_allclose(jax.jit(fn)(pred, target), fn(pred, target), rtol=SSIM_LOSS)
    np.testing.assert_allclose(jax.jit(jl.gan_loss, static_argnums=(1, 2))(pred, True, True),
                               jl.gan_loss(pred, True, True), rtol=LOSS)


def _w(L, x, n):
    """The first n columns (W) of an image in L's layout."""
    return x[..., :n] if L is tl else x[:, :, :n]


def _c(L, x, n):
    """The first n channels of an image in L's layout."""
    return x[:, :n] if L is tl else x[..., :n]


BAD = [  # (id, call(lib, pred, target), message pattern): the same ValueError in both frameworks
    ("l1-reduction", lambda L, x, y: L.l1_loss(x, y, reduction="avg"),
     r"reduction: expected one of \['none', 'mean', 'sum'\], got 'avg'"),
    ("mse-shape", lambda L, x, y: L.mse_loss(x, y[:1]), r"target: expected the shape of pred"),
    ("charbonnier-eps", lambda L, x, y: L.charbonnier_loss(x, y, eps=0.0), r"eps: expected a positive value"),
    ("l1-weight", lambda L, x, y: L.l1_loss(x, y, _c(L, x, 2)),
     r"weight: expected shape .* \(N[HC][WH][CW], 1 or 3 channels\)"),
    ("ssim-size", lambda L, x, y: L.ssim_loss(_w(L, x, 9), _w(L, y, 9)),
     r"pred: expected height and width of at least 11, got 13x9"),
    ("mixed-weight", lambda L, x, y: L.mixed_l1_ssim_loss(x, y, ssim_weight=1.5),
     r"ssim_weight: expected a number in \[0, 1\]"),
    ("gan-type", lambda L, x, y: L.gan_loss(x, True, gan_type="wgan-gp"),
     r"gan_type: expected one of \['vanilla', 'lsgan', 'wgan', 'wgan_softplus', 'hinge'\], got 'wgan-gp'"),
    ("gan-target", lambda L, x, y: L.gan_loss(x, 1), r"target_is_real: expected True or False, got 1"),
    ("ragan-flag", lambda L, x, y: L.relativistic_gan_loss(x, y, "yes"), r"for_discriminator: expected True or False"),
    ("percep-criterion", lambda L, x, y: L.PerceptualLoss({"conv5_4": 1.0}, criterion="l3", num_feat=2),
     r"criterion: expected one of \['l1', 'l2', 'fro'\], got 'l3'"),
    ("percep-vgg", lambda L, x, y: L.PerceptualLoss({"conv5_4": 1.0}, vgg_type="vgg11", num_feat=2),
     r"vgg_type: expected one of \['vgg16', 'vgg19'\], got 'vgg11'"),
    ("percep-tap", lambda L, x, y: L.PerceptualLoss({"conv6_1": 1.0}, num_feat=2),
     r"taps: expected a layer name of vgg19 \(conv1_1, \.\.\., pool5\)"),
    ("percep-twice", lambda L, x, y: L.PerceptualLoss({"conv5_4": 1.0, 34: 1.0}, num_feat=2),
     r"layer_weights: 34 names layer 'conv5_4' a second time"),
    ("percep-empty", lambda L, x, y: L.PerceptualLoss({}, num_feat=2), r"layer_weights: expected a non-empty dict"),
    ("percep-input", lambda L, x, y: L.PerceptualLoss({"relu1_1": 1.0}, num_feat=2)(_c(L, x, 1), _c(L, y, 1)),
     r"x: expected 3 channels"),
    ("ista-symlosses", lambda L, x, y: L.ista_net_loss(x, y, []), r"symlosses: expected a non-empty list or tuple"),
    ("ista-gamma", lambda L, x, y: L.ista_net_loss(x, y, [x], gamma=-1.0), r"gamma: expected a non-negative number"),
    ("registry", lambda L, x, y: L.get("l3"), r"name: expected one of \['charbonnier', .*\], got 'l3'"),
]


@pytest.mark.parametrize("i", range(len(BAD)), ids=[b[0] for b in BAD])
def test_bad_arguments(i):
    _, call, pattern = BAD[i]
    pred, target = _images(60)
    messages = []
    for lib, x, y in ((jl, jnp.asarray(pred), jnp.asarray(target)), (tl, _t(pred), _t(target))):
        with pytest.raises(ValueError, match=pattern) as err:
            call(lib, x, y)
        messages.append(str(err.value))
    if "shape" not in messages[0]:  # messages without NHWC / NCHW shapes are identical in both frameworks
        assert messages[0] == messages[1]
