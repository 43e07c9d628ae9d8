"""`jrestore quantize`: a float model -> an int8 file (post-training static quantisation or quantisation-aware
training), calibrated on a folder of images, in PyTorch (torch.ao.quantization, FX) or JAX (Google's AQT).

    jrestore quantize --model dncnn --weights dncnn_25.pth --method ptq --calib Train400/ --sigma 25 \\
        --protocol kair_dncnn --data Set12/ --out dncnn_25_int8.safetensors
    jrestore quantize ... --method qat --steps 300          # fake-quant fine-tuning on the --calib images first
    jrestore eval --weights dncnn_25_int8.safetensors --data Set12/ --protocol kair_dncnn --sigma 25

With --data the float and the int8 model are scored there under --protocol in both frameworks and the
PSNR drop printed (and recorded in the file). --bench times float32 against int8 inference on one image.
The scheme and the file layout: jrestore/core/quantize.py.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def add_parser(p):
    p.add_argument("--model", help="registered model name (dncnn, fsrcnn); optional when --weights records it")
    p.add_argument("--weights", required=True, help="float weights file (.pth/.pkl/.safetensors/.mat) or workdir")
    p.add_argument("--method", required=True, choices=("ptq", "qat"),
                   help="ptq: calibrate activations on --calib; qat: fake-quant fine-tuning on --calib, then convert")
    p.add_argument("--calib", required=True, help="folder of images: calibration (and QAT training) data")
    p.add_argument("--out", required=True, help="the int8 file to write (.safetensors)")
    p.add_argument("--protocol", required=True,
                   help="how images become model inputs (kair_dncnn, yjn870, selfexsr), for --calib and --data")
    p.add_argument("--framework", choices=("torch", "jax"), default="torch",
                   help="who calibrates / trains: torch (torch.ao FX, x86 backend) or jax (AQT); the file runs in both")
    p.add_argument("--sigma", type=float, help="noise level on the 0-255 scale (denoising)")
    p.add_argument("--scale", type=int, help="SR factor")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="constructor argument (repeatable)")
    p.add_argument("--patch", type=int, default=64, help="calibration / training crop size in input pixels (64)")
    p.add_argument("--crops", type=int, default=4, help="calibration crops per --calib image (4)")
    p.add_argument("--batch", type=int, default=8, help="crops per batch (8)")
    p.add_argument("--steps", type=int, default=200, help="QAT fine-tuning steps (200)")
    p.add_argument("--lr", type=float, default=1e-5, help="QAT Adam learning rate (1e-5)")
    p.add_argument("--seed", type=int, default=0, help="crops and QAT noise (0)")
    p.add_argument("--data", help="test folder: score float and int8 under --protocol, report the drop")
    p.add_argument("--bench", action="store_true", help="time float32 and int8 inference (CPU) on one --data image")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args) -> int:
    from jrestore._io import check_output_folder
    from jrestore.cli.verify import parse_sets, pin_full_precision, resolve_model_flags
    from jrestore.core.quantize import quant_stack, save_int8_file
    from jrestore.evaluation.protocol_data import PROTOCOL_KIND, load_samples
    from jrestore.inference import build_task
    from jrestore.inference.specs import get_spec

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise ValueError(f"--out: expected a .safetensors file name, got {out}")
    if out.exists() and not args.overwrite:
        raise ValueError(f"--out: {out} exists; pass --overwrite to replace it")
    check_output_folder(out.parent, "--out")
    if not Path(args.calib).is_dir():
        raise ValueError(f"--calib: expected a folder of images, got {args.calib}")
    for flag in ("patch", "crops", "batch", "steps"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag}: expected a positive integer, got {getattr(args, flag)}")
    if args.protocol not in PROTOCOL_KIND:
        raise ValueError(f"--protocol: expected one of {sorted(PROTOCOL_KIND)}, got {args.protocol!r}")
    if args.bench and not args.data:
        raise ValueError("--bench: times inference on the first --data image; pass --data")
    pin_full_precision()
    model, weights = resolve_model_flags(args.model, args.weights)
    float_task = build_task(model, weights, scale=args.scale, sigma=args.sigma, model_kwargs=parse_sets(args.set))
    kwargs = dict(float_task.kwargs)
    stack = quant_stack(model, kwargs)
    spec = get_spec(model)
    log = (lambda *a: None) if args.json else print
    samples = load_samples(args.calib, args.protocol, kind=spec.kind, channels=float_task.channels,
                           scale=float_task.scale, sigma=args.sigma)
    if not samples:
        raise ValueError(f"--calib: no images in {args.calib}")
    tensors, calib_info, seconds = _quantize(args, model, weights, kwargs, stack, spec, samples, float_task, log)
    record = {"float_weights": str(weights), "calibration": calib_info,
              "quantize_seconds": round(seconds, 2)}
    report = {"model": model, "method": args.method, "framework": args.framework, "out": str(out), **record}
    if args.data:
        report["psnr"] = _score(args, float_task, out, tensors, model, kwargs, log)
        record["psnr"] = report["psnr"]
    save_int8_file(out, tensors, model=model, kwargs=kwargs, method=args.method, framework=args.framework, **record)
    report["bytes"] = {"float32": _float_bytes(tensors), "int8_file": out.stat().st_size}
    if args.bench:
        report["bench"] = _bench(args, float_task, out)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"wrote {out} ({report['bytes']['int8_file']:,} bytes; float32 weights "
              f"{report['bytes']['float32']:,} bytes)")
        if "psnr" in report:
            for fw, row in report["psnr"].items():
                print(f"{fw:>5}: float {row['float']:.4f} dB, int8 {row['int8']:.4f} dB, drop {row['drop']:.4f} dB "
                      f"({args.data}, {args.protocol})")
        if "bench" in report:
            for fw, row in report["bench"].items():
                print(f"{fw:>5}: float32 {row['float32_ms']:.1f} ms, int8 {row['int8_ms']:.1f} ms per image "
                      f"({row['speedup']:.2f}x)")
    return 0


def _quantize(args, model, weights, kwargs, stack, spec, samples, float_task, log):
    from jrestore.quantize.task import calibration_batches, training_pairs

    calib = calibration_batches(samples, patch=args.patch, per_image=args.crops, batch=args.batch, seed=args.seed)
    info = {"folder": str(args.calib), "protocol": args.protocol, "images": len(samples),
            "patch": int(calib[0].shape[1]), "crops_per_image": args.crops, "batch": args.batch,
            "seed": args.seed, "observer": "min/max", "sigma": args.sigma}
    if args.method == "qat":
        info |= {"steps": args.steps, "lr": args.lr, "optimizer": "adam", "loss": "mse",
                 "qat_ranges": "moving average min/max from the first step, constant 0.01 (torch's QAT observer)"}
    pairs = training_pairs(samples, spec.kind, sigma=args.sigma, scale=float_task.scale, patch=args.patch,
                           batch=args.batch, seed=args.seed + 1)
    every = max(1, args.steps // 10)

    def on_step(step, loss):
        if step % every == 0 or step == args.steps:
            log(f"qat step {step}/{args.steps}: loss {loss:.6g}")
    start = time.perf_counter()
    if args.framework == "torch":
        import torch
        import torch_ref
        import torch_ref.quantize as tq

        torch.manual_seed(args.seed)
        net = torch_ref.load(weights, model=model, **kwargs)
        nchw = [torch.from_numpy(b.transpose(0, 3, 1, 2).copy()) for b in calib]
        if args.method == "ptq":
            _, tensors = tq.ptq(net, stack, nchw)
        else:
            torch_pairs = ((torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                            torch.from_numpy(t.transpose(0, 3, 1, 2).copy())) for x, t in pairs)
            _, tensors = tq.qat(net, stack, torch_pairs, steps=args.steps, lr=args.lr, on_step=on_step)
    else:
        import jrestore
        import jrestore.quantize as jq

        jm = jrestore.load(weights, model=model, **kwargs)
        if args.method == "ptq":
            tensors = jq.ptq(jm, stack, calib)
        else:
            tensors = jq.qat(jm, stack, kwargs, calib, pairs, steps=args.steps, lr=args.lr, on_step=on_step)
    return tensors, info, time.perf_counter() - start


def _score(args, float_task, out, tensors, model, kwargs, log) -> dict:
    """{framework: {float, int8, drop}} mean PSNR on --data (the int8 model from the tensors about to be written)."""
    import tempfile

    from jrestore.core.quantize import save_int8_file
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.quantize.task import int8_task

    floats = evaluate(float_task, args.data, args.protocol, sigma=args.sigma, progress=not args.json)
    with tempfile.TemporaryDirectory() as tmp:  # the int8 task reads a file: the one about to be written
        path = save_int8_file(Path(tmp) / "int8.safetensors", tensors, model=model, kwargs=kwargs,
                              method=args.method, framework=args.framework)
        ints = evaluate(int8_task(path, scale=args.scale), args.data, args.protocol, sigma=args.sigma,
                        progress=not args.json)
    return {fw: {"float": floats[fw]["mean_psnr"], "int8": ints[fw]["mean_psnr"],
                 "drop": floats[fw]["mean_psnr"] - ints[fw]["mean_psnr"],
                 "data": str(args.data), "protocol": args.protocol, "sigma": args.sigma} for fw in floats}


def _float_bytes(tensors) -> int:
    """Bytes of the same tensors as float32 (the float model's weights; activation parameters left out)."""
    return sum(4 * v.size for k, v in tensors.items() if k.endswith((".weight", ".bias")))


def _bench(args, float_task, out) -> dict:
    """Median ms per image of float32 and int8 inference on the first --data image (CPU, after a warm-up)."""
    import statistics

    from jrestore.evaluation.protocol_data import load_samples
    from jrestore.quantize.task import int8_task

    sample = load_samples(args.data, args.protocol, kind=float_task.kind, channels=float_task.channels,
                          scale=float_task.scale, sigma=args.sigma)[0]
    int8 = int8_task(out, scale=args.scale)
    result = {}
    for fw in float_task.frameworks:
        times = {}
        for name, task in (("float32", float_task), ("int8", int8)):
            task.restore(sample.inputs, fw)  # compile / warm up
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                task.restore(sample.inputs, fw)
                runs.append(time.perf_counter() - start)
            times[name] = 1000 * statistics.median(runs)
        result[fw] = {"float32_ms": times["float32"], "int8_ms": times["int8"],
                      "speedup": times["float32"] / times["int8"], "image": sample.name,
                      "shape": list(sample.inputs.shape)}
    return result
