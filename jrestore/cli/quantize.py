"""`jrestore quantize`: a float model -> an int8 file (post-training static quantisation or quantisation-aware
training), calibrated on a folder of images, in PyTorch (torch.ao.quantization, FX) or JAX (Google's AQT).

    jrestore quantize --model dncnn --weights dncnn_25.pth --method ptq --calib Train400/ --sigma 25 \\
        --protocol kair_dncnn --data Set12/ --out dncnn_25_int8.safetensors
    jrestore quantize ... --method qat --steps 300          # fake-quant fine-tuning on the --calib images first
    jrestore eval --weights dncnn_25_int8.safetensors --data Set12/ --protocol kair_dncnn --sigma 25
    jrestore quantize ... --method ptq --sensitivity --data Set12/ [--json] [--out report.json]
    jrestore quantize ... --observer percentile --percentile 99.99 --float-layers model.0,model.32
    jrestore quantize ... --activation-bits 8 --equalize 0.5 --lr-schedule cosine --qat-target teacher

--sensitivity: per-layer sensitivity (what torch.ao's Numeric Suite, AIMET and TensorRT users run first): each
convolution quantised alone (its input, int8 weights and output activation; every other layer float), and
the whole model with only its weights or only its activations quantised; each row's PSNR drop on --data.
--observer: the activation range observer (minmax | percentile | histogram, jrestore.core.quantize.OBSERVERS).
--float-layers: mixed precision, the named convolutions stay float (recorded in the file, honoured by eval).
--activation-bits 8: levels 0..255 (PyTorch's qnnpack engine; recorded in the file, 7 when absent).
--equalize ALPHA: activation equalisation before PTQ / QAT (exact in float; jrestore.core.quantize).
--lr-schedule constant|cosine, --qat-target data|teacher: QAT's learning rate and target (the pair's, or the
float model's own output); --freeze-ranges-after K: the activation ranges stop moving after K QAT steps.
--set prelu_split=true (FSRCNN): quantise the PReLU network in its ReLU form of doubled widths (the same
function; one activation grid per layer instead of two): all int8, about 0.1 dB lost (README, FSRCNN INT8).

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
    p.add_argument("--out", help="the int8 file to write (.safetensors); with --sensitivity the JSON report (optional)")
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
    p.add_argument("--observer", default="minmax", help="activation range observer: minmax (default), percentile "
                   "(--percentile, per batch, averaged), histogram (PyTorch's HistogramObserver; --framework torch)")
    p.add_argument("--percentile", type=float, default=99.99, help="--observer percentile: p in (50, 100] (99.99)")
    p.add_argument("--float-layers", default="", metavar="NAME,...",
                   help="convolutions kept in float (state-dict prefixes, e.g. first_part.0,last_part)")
    p.add_argument("--activation-bits", type=int, default=7, choices=(7, 8),
                   help="activation levels: 7 (0..127, x86 engine, the default) or 8 (0..255, qnnpack engine)")
    p.add_argument("--equalize", type=float, default=0.0, metavar="ALPHA",
                   help="equalise the channels of each conv -> PReLU/ReLU -> conv activation first, exponent "
                        "ALPHA (e.g. 0.5; 0: off, the default); exact in float")
    p.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"),
                   help="QAT learning rate: constant (default) or cosine decay from --lr to 0 over --steps")
    p.add_argument("--qat-target", default="data", choices=("data", "teacher"),
                   help="QAT target: data (the --calib pair's, default) or teacher (the float model's output)")
    p.add_argument("--freeze-ranges-after", type=int, default=0, metavar="STEPS",
                   help="QAT: stop moving the activation ranges after STEPS steps (0: never)")
    p.add_argument("--sensitivity", action="store_true",
                   help="per-layer PTQ sensitivity on --data: each conv int8 alone, weights only, activations only")
    p.add_argument("--data", help="test folder: score float and int8 under --protocol, report the drop")
    p.add_argument("--bench", action="store_true", help="time float32 and int8 inference (CPU) on one --data image")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def run(args) -> int:
    from jrestore._io import check_output_folder
    from jrestore.cli.verify import parse_sets, pin_full_precision, resolve_model_flags
    from jrestore.core.quantize import prune_tensors, quant_stack, save_int8_file
    from jrestore.evaluation.protocol_data import PROTOCOL_KIND, load_samples
    from jrestore.inference import build_task
    from jrestore.inference.specs import get_spec

    from jrestore.core.quantize import OBSERVERS, check_qat_options

    if args.observer not in OBSERVERS:
        raise ValueError(f"--observer: expected one of {list(OBSERVERS)}, got {args.observer!r}")
    if not 50.0 < args.percentile <= 100.0:
        raise ValueError(f"--percentile: expected a value in (50, 100], got {args.percentile}")
    if args.observer == "histogram" and args.framework == "jax":
        raise ValueError("--observer: histogram is PyTorch's HistogramObserver (not mirrored in JAX); calibrate with "
                         "--framework torch (the file's scales then run in both), or use minmax / percentile")
    if args.equalize < 0:
        raise ValueError(f"--equalize: expected an exponent ALPHA > 0 (or 0: off), got {args.equalize}")
    if args.method != "qat" and (args.lr_schedule != "constant" or args.qat_target != "data"
                                 or args.freeze_ranges_after):
        raise ValueError(f"--lr-schedule / --qat-target / --freeze-ranges-after: QAT options; expected --method qat, "
                         f"got {args.method}")
    check_qat_options(args.lr_schedule, args.qat_target, args.freeze_ranges_after)  # before any loading
    if args.sensitivity:
        if args.method != "ptq":
            raise ValueError(f"--sensitivity: a post-training analysis; expected --method ptq, got {args.method}")
        if not args.data:
            raise ValueError("--sensitivity: scores each layer on --data; pass --data")
        if args.float_layers:
            raise ValueError("--sensitivity: quantises one layer at a time itself; drop --float-layers")
    if args.out is None and not args.sensitivity:
        raise ValueError("--out: the int8 file to write (.safetensors) is required")
    out = Path(args.out) if args.out else None
    if out is not None:
        want = ".json" if args.sensitivity else ".safetensors"
        if out.suffix != want:
            raise ValueError(f"--out: expected a {want} file name, got {out}")
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
    stack = quant_stack(model, kwargs).with_float_layers(
        [name.strip() for name in args.float_layers.split(",") if name.strip()]).with_activation_bits(
        args.activation_bits)
    spec = get_spec(model)
    log = (lambda *a: None) if args.json else print
    samples = load_samples(args.calib, args.protocol, kind=spec.kind, channels=float_task.channels,
                           scale=float_task.scale, sigma=args.sigma)
    if not samples:
        raise ValueError(f"--calib: no images in {args.calib}")
    if args.sensitivity:
        report = _sensitivity(args, model, weights, kwargs, stack, spec, samples, float_task, log)
        if out is not None:
            from jrestore._io import atomic_write_text

            atomic_write_text(out, json.dumps(report, indent=1))
        print(json.dumps(report)) if args.json else _print_sensitivity(report)
        return 0
    tensors, calib_info, seconds = _quantize(args, model, weights, kwargs, stack, spec, samples, float_task, log)
    tensors = prune_tensors(stack, tensors)
    record = {"float_weights": str(weights), "calibration": calib_info,
              "quantize_seconds": round(seconds, 2)}
    report = {"model": model, "method": args.method, "framework": args.framework, "out": str(out),
              "float_layers": list(stack.float_layers), "activation_bits": stack.act_bits, **record}
    if args.data:
        report["psnr"] = _score(args, float_task, out, tensors, model, kwargs, log, stack)
        record["psnr"] = report["psnr"]
    save_int8_file(out, tensors, model=model, kwargs=kwargs, method=args.method, framework=args.framework,
                   float_layers=stack.float_layers, activation_bits=stack.act_bits, **record)
    report["bytes"] = {"float32": _float_bytes(weights), "int8_file": out.stat().st_size}
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
            "seed": args.seed, "observer": args.observer, "sigma": args.sigma}
    if args.equalize:
        info["equalize"] = args.equalize
    if args.observer == "percentile":
        info["percentile"] = args.percentile
    if args.method == "qat":
        info |= {"steps": args.steps, "lr": args.lr, "lr_schedule": args.lr_schedule, "target": args.qat_target,
                 "optimizer": "adam", "loss": "mse",
                 "qat_ranges": "moving average min/max from the first step, constant 0.01 (torch's QAT observer)"
                 if args.observer == "minmax" else f"{args.observer} on --calib (fake-quantised weights), then frozen"}
        if args.freeze_ranges_after:
            info["freeze_ranges_after"] = args.freeze_ranges_after
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
        if args.equalize:
            net = tq.equalize(net, stack, nchw, args.equalize)
        if args.method == "ptq":
            _, tensors = tq.ptq(net, stack, nchw, observer=args.observer, percentile=args.percentile)
        else:
            torch_pairs = ((torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                            torch.from_numpy(t.transpose(0, 3, 1, 2).copy())) for x, t in pairs)
            _, tensors = tq.qat(net, stack, torch_pairs, steps=args.steps, lr=args.lr, on_step=on_step,
                                observer=args.observer, percentile=args.percentile, calib_batches=nchw,
                                lr_schedule=args.lr_schedule, target=args.qat_target,
                                freeze_ranges_after=args.freeze_ranges_after)
    else:
        import jrestore
        import jrestore.quantize as jq

        jm = jrestore.load(weights, model=model, **kwargs)
        if args.equalize:
            jq.equalize(jm, stack, calib, args.equalize)
        if args.method == "ptq":
            tensors = jq.ptq(jm, stack, calib, observer=args.observer, percentile=args.percentile)
        else:
            tensors = jq.qat(jm, stack, kwargs, calib, pairs, steps=args.steps, lr=args.lr, on_step=on_step,
                             observer=args.observer, percentile=args.percentile, lr_schedule=args.lr_schedule,
                             target=args.qat_target, freeze_ranges_after=args.freeze_ranges_after)
    from jrestore.quantize import check_exact_accumulation

    check_exact_accumulation(stack, tensors, kwargs)  # every file must run exactly in JAX (AQT) too
    return tensors, info, time.perf_counter() - start


def _sensitivity(args, model, weights, kwargs, stack, spec, samples, float_task, log) -> dict:
    """The per-layer sensitivity report (jrestore.quantize.sensitivity) in --framework, on --data."""
    import jrestore
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.quantize import float_weights
    from jrestore.quantize.sensitivity import sensitivity_rows
    from jrestore.quantize.task import tensors_task

    fw = args.framework
    int8_tensors, calib_info, seconds = _quantize(args, model, weights, kwargs, stack, spec, samples, float_task, log)
    floats = float_weights(jrestore.load(weights, model=model, **kwargs), stack)
    float_psnr = evaluate(float_task, args.data, args.protocol, sigma=args.sigma, frameworks=[fw],
                          progress=False)[fw]["mean_psnr"]

    def score(mixed, tensors, frameworks):
        frameworks = frameworks or (fw,)
        task = tensors_task(mixed, tensors, kwargs, frameworks, scale=args.scale, label="sensitivity")
        result = evaluate(task, args.data, args.protocol, sigma=args.sigma, progress=False)
        log(f"  scored {'all-float' if mixed.float_layers == mixed.convs else len(mixed.convs) - len(mixed.float_layers)}"
            f" int8 layer(s): {result[frameworks[0]]['mean_psnr']:.4f} dB")
        return result[frameworks[0]]["mean_psnr"]
    rows = sensitivity_rows(stack, int8_tensors, floats, score, float_psnr)
    for row in rows:
        row["framework"] = row["framework"] or fw
    return {"model": model, "framework": fw, "float_weights": str(weights), "data": str(args.data),
            "protocol": args.protocol, "sigma": args.sigma, "calibration": calib_info, "rows": rows}


def _print_sensitivity(report) -> None:
    print(f"per-layer sensitivity of {report['model']} ({report['framework']}, observer "
          f"{report['calibration']['observer']}) on {report['data']} ({report['protocol']}): PSNR drop against float")
    print(f"{'row':<22} {'kind':<12} {'framework':<9} {'PSNR dB':>9} {'drop dB':>8}")
    for row in report["rows"]:
        print(f"{row['name']:<22} {row['kind']:<12} {row['framework']:<9} {row['psnr']:>9.4f} {row['drop']:>8.4f}")


def _score(args, float_task, out, tensors, model, kwargs, log, stack) -> dict:
    """{framework: {float, int8, drop}} mean PSNR on --data (the int8 model from the tensors about to be written)."""
    import tempfile

    from jrestore.core.quantize import save_int8_file
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.quantize.task import int8_task

    floats = evaluate(float_task, args.data, args.protocol, sigma=args.sigma, progress=not args.json)
    with tempfile.TemporaryDirectory() as tmp:  # the int8 task reads a file: the one about to be written
        path = save_int8_file(Path(tmp) / "int8.safetensors", tensors, model=model, kwargs=kwargs,
                              method=args.method, framework=args.framework, float_layers=stack.float_layers,
                              activation_bits=stack.act_bits)
        ints = evaluate(int8_task(path, scale=args.scale), args.data, args.protocol, sigma=args.sigma,
                        progress=not args.json)
    return {fw: {"float": floats[fw]["mean_psnr"], "int8": ints[fw]["mean_psnr"],
                 "drop": floats[fw]["mean_psnr"] - ints[fw]["mean_psnr"],
                 "data": str(args.data), "protocol": args.protocol, "sigma": args.sigma} for fw in floats}


def _float_bytes(weights) -> int:
    """Bytes of the float model's weights as float32 (the --weights file's floating-point tensors, counters
    left out): what the int8 file replaces, also for a re-parameterised chain (FSRCNN prelu_split doubles its
    widths in int8 only)."""
    from jrestore.convert.checkpoints import load_state_dict_file

    state = load_state_dict_file(weights, what="--weights")  # {key: torch.Tensor}
    return sum(4 * v.numel() for v in state.values() if v.is_floating_point())


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
