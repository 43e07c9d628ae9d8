"""`jrestore demo`: an offline tour on images shipped with scikit-image, JAX beside PyTorch.

1. Bicubic super-resolution baseline (MATLAB imresize down and up, SelfExSR protocol) at x2/x3/x4.
2. Wiener deconvolution of a Gaussian-blurred, noisy photograph.
3. With the reference data present: the Set5 bicubic benchmark against its published means.
4. Training: a small DnCNN trained for sigma 25 on the scikit-image photos (offline), by the JAX trainer and
   by its PyTorch twin from the same initial weights and batches, then both tested on a held-out photo.
Each number is computed by jrestore and by torch_ref; the table shows both and their difference.
A figure of the results is written to --out.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def add_parser(p):
    p.add_argument("--out", default="demo_out", help="folder for demo.png and demo.json (default: demo_out)")
    p.add_argument("--train-steps", type=int, default=300, help="steps of the training demonstration (0: skip it)")


# held out of the training photos: the test image of the training demonstration
HELD_OUT = "camera"


def _training_rows(steps: int, workdir: Path):
    """Train DnCNN (16 features, 8 layers) for `steps` Adam steps in both frameworks on identical batches of
    40x40 grey patches with sigma-25 noise; returns (loss rows, test rows, panels)."""
    import jax
    from tqdm import tqdm
    from skimage import data
    from jrestore.evaluation.evaluate import score
    from jrestore.inference import build_task
    from jrestore.ops.noise import numpy_legacy_gaussian_noise
    from train.config import load_config
    from train.data import make_train_iterator
    from train.data.sources import SKIMAGE_DEFAULT
    from train.torch_trainer import TorchTrainer
    from train.trainer import Trainer, initial_torch_state

    names = [n for n in SKIMAGE_DEFAULT if n != HELD_OUT]
    cfg = load_config("dncnn_s25", ["model.kwargs.nc=16", "model.kwargs.nb=8", f"train.steps={steps}",
                                    "train.global_batch_size=16", "optim.lr=1e-3", "val.source=''",
                                    "data.source='skimage'", "data.path=''", "data.patches_per_image=64",
                                    f"data.names={names}"])
    init = initial_torch_state(cfg)
    jt, tt = Trainer(cfg, workdir, initial_state=init, progress=False), TorchTrainer(cfg, init)
    it = make_train_iterator(cfg.data, task=cfg.task, global_batch_size=16, seed=0)
    losses = []
    for step in tqdm(range(1, steps + 1), desc="training DnCNN in JAX and PyTorch", unit="step", leave=False):
        batch = next(it)
        jt.state, m = jt.train_step(jt.state, jt.device_batch(batch))
        t = tt.step(batch)
        if step == 1 or step % max(1, steps // 5) == 0:
            losses.append({"step": step, "loss_jax": float(m["loss"]), "loss_torch": t["loss"]})
    clean = getattr(data, HELD_OUT)().astype(np.float32)[..., None] / 255.0
    noisy = (clean + numpy_legacy_gaussian_noise(clean.shape, 25, seed=0, dtype=np.float64)).astype(np.float32)
    kwargs = dict(cfg.model.kwargs)
    tests, panels = [], {}
    for fw, weights in (("jax", jt.params_torch_layout()), ("torch", tt.state_dict())):
        out = build_task("dncnn", weights, model_kwargs=kwargs, frameworks=(fw,)).restore(noisy, fw)
        tests.append({"framework": fw, "psnr": score(out, clean, "kair_dncnn", 1, fw)[0]})
        if fw == "jax":
            panels[f"DnCNN trained {steps} steps"] = np.clip(out, 0, 1)
    noisy_psnr = score(noisy, clean, "kair_dncnn", 1, "jax")[0]
    panels["noisy, sigma 25"] = np.clip(noisy, 0, 1)
    jax.clear_caches()
    return losses, {"image": HELD_OUT, "noisy_psnr": noisy_psnr, "results": tests}, panels


def _images() -> dict[str, np.ndarray]:
    from skimage import data

    return {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee()}


def _sr_rows(images: dict[str, np.ndarray]):
    import jax
    import jax.numpy as jnp
    import torch
    from jrestore.metrics import psnr as jpsnr
    from jrestore.ops.resize import imresize_matlab as j_resize, quantize_uint8 as j_q
    from torch_ref.metrics import psnr as tpsnr
    from torch_ref.ops.resize import imresize_matlab as t_resize, quantize_uint8 as t_q

    def jax_down_up_psnr(j_hr, s: int):
        j_sr = j_q(j_resize(j_q(j_resize(j_hr, scale=1 / s)), scale=s))
        return j_sr, jpsnr(j_sr, j_hr, protocol="selfexsr", scale=s)

    # one compilation per image size and scale (eager mode compiles every small operation for every shape)
    jax_down_up_psnr = jax.jit(jax_down_up_psnr, static_argnums=1)
    rows, panels = [], {}
    for name, img in images.items():
        for s in (2, 3, 4):
            h, w = (img.shape[0] // s) * s, (img.shape[1] // s) * s
            hr = img[:h, :w].astype(np.float32) / 255.0
            j_hr = jnp.asarray(hr)[None]
            j_sr, j_psnr = jax_down_up_psnr(j_hr, s)
            t_hr = torch.from_numpy(hr.transpose(2, 0, 1).copy())[None]
            t_sr = t_q(t_resize(t_q(t_resize(t_hr, scale=1 / s)), scale=s))
            pj = float(np.asarray(j_psnr).reshape(-1)[0])
            pt = float(np.asarray(tpsnr(t_sr, t_hr, protocol="selfexsr", scale=s)).reshape(-1)[0])
            rows.append({"image": name, "scale": s, "psnr_jax": pj, "psnr_torch": pt})
            if name == "astronaut" and s == 4:
                panels["HR"] = hr
                panels["bicubic x4 (MATLAB imresize)"] = np.asarray(j_sr[0])
    return rows, panels


def _wiener_rows():
    import jax
    import jax.numpy as jnp
    import torch
    from skimage import data
    from jrestore.metrics import psnr as jpsnr
    from jrestore.ops import wiener as jw
    from jrestore.ops.noise import numpy_legacy_gaussian_noise
    from torch_ref.ops import wiener as tw
    from torch_ref.metrics import psnr as tpsnr

    x = data.camera().astype(np.float32)[None, :, :, None] / 255.0
    psf = jw.gaussian_psf(9, 1.6)
    blurred = np.asarray(jw.blur(jnp.asarray(x), psf)) + numpy_legacy_gaussian_noise(x.shape, 1.0, seed=0)
    rows, panels = [], {"blurred + noise": blurred[0]}
    for k in (1e-3, 1e-2):
        rj = jnp.clip(jw.wiener_deconvolve(jnp.asarray(blurred), psf, k), 0, 1)
        rt = torch.clamp(tw.wiener_deconvolve(torch.from_numpy(blurred.transpose(0, 3, 1, 2).copy()),
                                              torch.from_numpy(psf), k), 0, 1)
        pj = float(np.asarray(jpsnr(rj, jnp.asarray(x))).reshape(-1)[0])
        pt = float(np.asarray(tpsnr(rt, torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))).reshape(-1)[0])
        rows.append({"image": "camera", "k": k, "psnr_blurred": float(np.asarray(jpsnr(jnp.asarray(blurred).clip(0, 1), jnp.asarray(x))).reshape(-1)[0]),
                     "psnr_jax": pj, "psnr_torch": pt})
        panels[f"Wiener, K={k:g}"] = np.asarray(rj[0])
    return rows, panels


def _set5_rows():
    from jrestore.data.paths import data_dir
    from jrestore.evaluation.bicubic import evaluate_bicubic

    root = data_dir()
    if root is None:
        return None
    expected = json.loads((root / "expected_psnr.json").read_text())["bicubic_set5_selfexsr"]
    rows = []
    for s in (2, 3, 4):
        res = evaluate_bicubic(root / "sr" / "Set5", s)
        rows.append({"scale": s, "psnr_jax": res["jax"]["mean_psnr"], "psnr_torch": res["torch"]["mean_psnr"],
                     "expected": expected[f"x{s}"]})
    return rows


def _figure(panels: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (title, img) in zip(np.atleast_1d(axes), panels.items()):
        img = np.clip(img, 0, 1)
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    from jrestore._io import atomic_write
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def run(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("jrestore demo: every number computed by jrestore (JAX) and torch_ref (PyTorch)\n")
    sr, panels = _sr_rows(_images())
    print("1. Bicubic SR baseline, MATLAB imresize, SelfExSR protocol (Y, shave = scale), PSNR dB")
    print(f"   {'image':<10} {'scale':>5} {'jax':>9} {'torch':>9} {'|diff|':>9}")
    for r in sr:
        print(f"   {r['image']:<10} {'x%d' % r['scale']:>5} {r['psnr_jax']:>9.4f} {r['psnr_torch']:>9.4f} {abs(r['psnr_jax'] - r['psnr_torch']):>9.1e}")
    wiener, more = _wiener_rows()
    panels.update(more)
    print("\n2. Wiener deconvolution, camera, Gaussian PSF 9x9 sigma 1.6 + noise sigma 1/255, PSNR dB")
    print(f"   {'K':>7} {'blurred':>9} {'jax':>9} {'torch':>9} {'|diff|':>9}")
    for r in wiener:
        print(f"   {r['k']:>7g} {r['psnr_blurred']:>9.4f} {r['psnr_jax']:>9.4f} {r['psnr_torch']:>9.4f} {abs(r['psnr_jax'] - r['psnr_torch']):>9.1e}")
    set5 = _set5_rows()
    if set5 is None:
        print("\n3. Set5 bicubic benchmark: reference data absent (set JRESTORE_DATA), skipped")
    else:
        print("\n3. Set5 bicubic benchmark (given LR, MATLAB imresize, SelfExSR protocol), mean PSNR dB")
        print(f"   {'scale':>5} {'jax':>9} {'torch':>9} {'published':>10}")
        for r in set5:
            print(f"   {'x%d' % r['scale']:>5} {r['psnr_jax']:>9.4f} {r['psnr_torch']:>9.4f} {r['expected']:>10.2f}")
    training = None
    if args.train_steps > 0:
        import tempfile
        with tempfile.TemporaryDirectory() as workdir:
            losses, test, more = _training_rows(args.train_steps, Path(workdir))
        panels.update(more)
        training = {"losses": losses, "test": test}
        print(f"\n4. Training DnCNN (16 features, 8 layers) for sigma 25 on scikit-image photos, {args.train_steps} "
              f"Adam steps, same initial weights and batches in both frameworks")
        print(f"   {'step':>5} {'loss jax':>11} {'loss torch':>11} {'rel diff':>9}")
        for r in losses:
            print(f"   {r['step']:>5} {r['loss_jax']:>11.6f} {r['loss_torch']:>11.6f} "
                  f"{abs(r['loss_jax'] - r['loss_torch']) / r['loss_torch']:>9.1e}")
        res = {r["framework"]: r["psnr"] for r in test["results"]}
        print(f"   held-out '{test['image']}', KAIR protocol: noisy {test['noisy_psnr']:.2f} dB -> "
              f"jax {res['jax']:.4f} dB, torch {res['torch']:.4f} dB (|diff| {abs(res['jax'] - res['torch']):.1e})")
    _figure(panels, out / "demo.png")
    from jrestore._io import atomic_write_text
    atomic_write_text(out / "demo.json", json.dumps({"sr_bicubic": sr, "wiener": wiener, "set5_bicubic": set5,
                                                     "training": training}, indent=1))
    print(f"\nwrote {out / 'demo.png'} and {out / 'demo.json'}")
    return 0
