"""`jrestore eval`: a model (or the bicubic baseline) on a test set under a paper's protocol, in JAX and
PyTorch side by side: a per-image table (PSNR and SSIM per framework and their difference) and the means,
or with --json one object {"model", "protocol", "results": {fw: {"per_image", "mean_psnr", "mean_ssim"}}}.
"""
from __future__ import annotations

import json

from jrestore.cli.verify import parse_sets, pin_full_precision, resolve_model_flags


def add_parser(p):
    p.add_argument("--model", help="registered model name, or 'bicubic' for the interpolation baseline; optional when --weights records it (a model file or training workdir)")
    p.add_argument("--weights", help="weights file (.pth/.pt/.pkl with weights_only=True, .safetensors, MatConvNet .mat) or a training "
                        "workdir (its model.safetensors; WORKDIR:best for best.safetensors)")
    p.add_argument("--data", required=True, help="folder of test images (SR: also the SelfExSR *_SRF_s_{HR,LR} layout)")
    p.add_argument("--protocol", required=True, help="ista_net | kair_dncnn | selfexsr | yjn870")
    p.add_argument("--framework", choices=("jax", "torch", "both"), default="both")
    p.add_argument("--sigma", type=float, help="noise level on the 0-255 scale (denoising)")
    p.add_argument("--scale", type=int, help="SR factor")
    p.add_argument("--cs-ratio", type=int, help="CS sampling ratio in percent")
    p.add_argument("--cs-matrices", help="folder with phi_0_{R}_1089.mat and Initialization_Matrix_{R}.mat")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="constructor argument (repeatable)")
    p.add_argument("--tile", type=int, help="restore in overlapping tiles of about this many input pixels")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def run(args) -> int:
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.evaluation.protocol_data import PROTOCOL_KIND, PROTOCOL_UPSAMPLE
    from jrestore.inference import build_task
    from jrestore.metrics import get_protocol

    get_protocol(args.protocol)  # unknown name: one error listing the valid ones
    if args.protocol not in PROTOCOL_KIND:
        raise ValueError(f"--protocol: expected one of {sorted(PROTOCOL_KIND)}, got {args.protocol!r}")
    pin_full_precision()
    args.model, args.weights = resolve_model_flags(args.model, args.weights)
    frameworks = ("jax", "torch") if args.framework == "both" else (args.framework,)
    task = build_task(args.model, args.weights, scale=args.scale, sigma=args.sigma, cs_ratio=args.cs_ratio,
                      cs_matrices=args.cs_matrices, model_kwargs=parse_sets(args.set), frameworks=frameworks,
                      upsample=PROTOCOL_UPSAMPLE.get(args.protocol, "matlab"))
    results = evaluate(task, args.data, args.protocol, sigma=args.sigma, tile=args.tile, progress=not args.json)
    summary = {"model": args.model, "protocol": args.protocol, "weights": args.weights, "data": args.data,
               "settings": {"scale": task.scale, "sigma": args.sigma, "cs_ratio": args.cs_ratio},
               "results": results}
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(summary)
    return 0


def print_table(summary: dict) -> None:
    results = summary["results"]
    fws = list(results)
    names = list(results[fws[0]]["per_image"])
    width = max(12, *(len(n) for n in names))
    head = f"{'image':<{width}}" + "".join(f" {'PSNR ' + fw:>11}" for fw in fws)
    head += f" {'diff':>9}" if len(fws) == 2 else ""
    head += "".join(f" {'SSIM ' + fw:>11}" for fw in fws)
    print(f"{summary['model']} on {summary['data']} ({summary['protocol']} protocol"
          + (f", weights {summary['weights']}" if summary["weights"] else "") + ")")
    print(head)
    rows = [(n, [results[fw]["per_image"][n] for fw in fws], [results[fw]["per_image_ssim"][n] for fw in fws])
            for n in names]
    rows.append(("mean", [results[fw]["mean_psnr"] for fw in fws], [results[fw]["mean_ssim"] for fw in fws]))
    for name, psnrs, ssims in rows:
        if name == "mean":
            print("-" * len(head))
        line = f"{name:<{width}}" + "".join(f" {p:>11.4f}" for p in psnrs)
        line += f" {psnrs[0] - psnrs[1]:>9.1e}" if len(psnrs) == 2 else ""
        line += "".join(f" {s:>11.4f}" for s in ssims)
        print(line)
