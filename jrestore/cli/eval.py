"""`jrestore eval`: a model (or the bicubic baseline) on a test set under a paper's protocol, in JAX and
PyTorch side by side: a per-image table (PSNR and SSIM per framework and their difference) and the means,
or with --json one object {"model", "protocol", "results": {fw: {"per_image", "mean_psnr", "mean_ssim"}}}.

What a paper's test script saves, too: `--save-images DIR` writes every restored image as DIR/<input
name>.png (DIR/jax/ and DIR/torch/ with --framework both), 8-bit as the protocols read their inputs, the
model's output as the protocol scores it (one-channel models: the channel they restore). `--out FILE.csv`
or `FILE.json` writes one row per image (name, then psnr_<fw>, ssim_<fw> per framework) and a last row
"mean"; the JSON file also holds the settings. Both are written atomically; existing ones need --overwrite.
"""
from __future__ import annotations

import json
from pathlib import Path

from jrestore.cli.verify import parse_sets, pin_full_precision, resolve_model_flags


def add_parser(p):
    p.add_argument("--model", help="registered model name, or a baseline: 'bicubic' (SR interpolation), 'bm3d' "
                                    "(denoising, the bm3d package, needs --sigma); optional "
                                    "when --weights records it (a model file or training workdir)")
    p.add_argument("--weights", help="weights file (.pth/.pt/.pkl with weights_only=True, .safetensors, MatConvNet "
                                      ".mat), a training workdir (its model.safetensors; WORKDIR:best for "
                                      "best.safetensors), or an int8 file from `jrestore quantize` (run as int8 in "
                                      "both frameworks, the float model's PSNR reported beside it)")
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
    p.add_argument("--save-images", metavar="DIR",
                   help="write the restored images to DIR as <input name>.png (DIR/jax, DIR/torch with "
                        "--framework both)")
    p.add_argument("--out", metavar="FILE",
                   help="write the per-image PSNR / SSIM and the means to FILE (.csv or .json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file or files in --save-images")


def run(args) -> int:
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.evaluation.protocol_data import PROTOCOL_KIND, PROTOCOL_UPSAMPLE
    from jrestore.inference import build_task
    from jrestore.inference.tasks import FRAMEWORK_FREE
    from jrestore.metrics import get_protocol

    get_protocol(args.protocol)  # unknown name: one error listing the valid ones
    if args.protocol not in PROTOCOL_KIND:
        raise ValueError(f"--protocol: expected one of {sorted(PROTOCOL_KIND)}, got {args.protocol!r}")
    frameworks = ("jax", "torch") if args.framework == "both" else (args.framework,)
    _check_outputs(args)  # before the model loads and the test set runs: a bad --out or DIR is one line
    pin_full_precision()
    args.model, args.weights = resolve_model_flags(args.model, args.weights)
    int8 = _int8_file(args)
    if int8 is not None:  # a `jrestore quantize` file: AQT int8 in JAX, the converted module in torch
        from jrestore.quantize.task import int8_task
        task = int8_task(int8, frameworks, scale=args.scale)
    else:
        task = build_task(args.model, args.weights, scale=args.scale, sigma=args.sigma, cs_ratio=args.cs_ratio,
                          cs_matrices=args.cs_matrices, model_kwargs=parse_sets(args.set), frameworks=frameworks,
                          upsample=PROTOCOL_UPSAMPLE.get(args.protocol, "matlab"))
    saver = _ImageSaver(Path(args.save_images), frameworks) if args.save_images else None
    results = evaluate(task, args.data, args.protocol, sigma=args.sigma, tile=args.tile, progress=not args.json,
                       on_restored=saver)
    summary = {"model": args.model, "protocol": args.protocol, "weights": args.weights, "data": args.data,
               "settings": {"scale": task.scale, "sigma": args.sigma, "cs_ratio": args.cs_ratio},
               "results": results}
    if int8 is not None:
        summary["int8"] = _float_beside(args, int8, frameworks, results)
    if args.model in FRAMEWORK_FREE:
        summary["note"] = (f"{args.model} runs in NumPy, in neither framework: every framework column is the same "
                           f"computation")
    if args.out:
        write_rows(summary, Path(args.out))
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(summary)
        for what, where in (("restored images", args.save_images), ("per-image scores", args.out)):
            if where:
                print(f"wrote {what} to {where}")
    return 0


def _int8_file(args):
    """The --weights path when it is an int8 file (`jrestore quantize`), else None."""
    from jrestore.core.quantize import is_int8_file

    if not args.weights or not is_int8_file(args.weights):
        return None
    if args.set:
        raise ValueError("--set: an int8 file fixes its model's arguments; drop --set")
    return args.weights


def _float_beside(args, path, frameworks, results) -> dict:
    """The float model's mean PSNR beside the int8 one: {method, float_weights, per framework {float, int8,
    drop}}. The float model is re-scored on the same data when the file's float_weights is still there;
    otherwise the PSNR `jrestore quantize --data` recorded is used when its data, protocol and sigma match."""
    from jrestore.core.model_file import read_metadata
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.inference import build_task

    meta = read_metadata(path)
    source = meta.get("float_weights")
    out = {"method": meta.get("method"), "quantized_by": meta.get("framework"), "float_weights": source}
    floats = None
    if source and Path(source).exists():
        from jrestore.core.quantize import read_int8_file
        kwargs = read_int8_file(path)[3]
        task = build_task(meta["model"], source, scale=args.scale, sigma=args.sigma, model_kwargs=kwargs,
                          frameworks=frameworks)
        floats = {fw: r["mean_psnr"] for fw, r in evaluate(task, args.data, args.protocol, sigma=args.sigma,
                                                            progress=not args.json).items()}
        out["float_from"] = "re-scored"
    else:
        recorded = meta.get("psnr") or {}
        same = {fw: row["float"] for fw, row in recorded.items() if fw in frameworks
                and row.get("protocol") == args.protocol and row.get("sigma") == args.sigma
                and Path(row.get("data", "")).resolve() == Path(args.data).resolve()}
        if same:
            floats, out["float_from"] = same, "recorded by jrestore quantize"
        else:
            out["float_from"] = (f"unavailable: {source} is gone and the file records no float PSNR for this "
                                 f"data / protocol / sigma")
    for fw in frameworks:
        row = {"int8": results[fw]["mean_psnr"]}
        if floats and fw in floats:
            row |= {"float": floats[fw], "drop": floats[fw] - results[fw]["mean_psnr"]}
        out[fw] = row
    return out


OUT_SUFFIXES = (".csv", ".json")


def _check_outputs(args) -> None:
    from jrestore._io import check_output_folder

    if args.out:
        out = Path(args.out)
        if out.suffix.lower() not in OUT_SUFFIXES:
            raise ValueError(f"--out: expected a .csv or .json file name, got {out}")
        if out.is_dir():
            raise ValueError(f"--out: {out} is a folder")
        if out.exists() and not args.overwrite:
            raise ValueError(f"--out: {out} exists; pass --overwrite to replace it")
        check_output_folder(out.parent, "--out")
    if args.save_images:
        folder = Path(args.save_images)
        check_output_folder(folder, "--save-images", create=True)
        if folder.is_dir() and any(folder.iterdir()) and not args.overwrite:
            raise ValueError(f"--save-images: {folder} is not empty; pass --overwrite to write into it (files of "
                             f"the same name are replaced)")


class _ImageSaver:
    """on_restored for `evaluate`: each restored image as 8-bit PNG named after its input, atomically."""

    def __init__(self, folder: Path, frameworks):
        self.folders = {fw: folder / fw if len(frameworks) > 1 else folder for fw in frameworks}
        self.used: dict = {}

    def __call__(self, name: str, framework: str, restored) -> None:
        import numpy as np

        from jrestore.cli.restore import write_image_atomic

        folder = self.folders[framework]
        folder.mkdir(parents=True, exist_ok=True)
        stem = Path(name).stem
        # a.png and a.bmp in one test set: the second keeps its full name (a.bmp.png), not a.png twice
        key = (framework, stem)
        file_name = f"{stem}.png" if self.used.setdefault(key, name) == name else f"{name}.png"
        image = np.round(np.clip(restored, 0.0, 1.0) * 255.0).astype(np.uint8)
        write_image_atomic(image[..., 0] if image.shape[2] == 1 else image, folder / file_name)


def write_rows(summary: dict, out: Path) -> None:
    """The per-image rows (`result_rows`) as CSV, or as JSON with the settings, written atomically."""
    import csv
    import io

    from jrestore._io import atomic_write_text
    from jrestore.evaluation.evaluate import result_rows

    rows = result_rows(summary["results"])
    if out.suffix.lower() == ".json":
        text = json.dumps({k: summary[k] for k in ("model", "protocol", "weights", "data", "settings")}
                          | {"columns": list(rows[0]), "rows": rows}, indent=1) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()} for row in rows)
        text = buffer.getvalue()
    atomic_write_text(out, text)


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
    if summary.get("note"):
        print(f"note: {summary['note']}")
    if summary.get("int8"):
        info = summary["int8"]
        print(f"int8 model ({info['method']}, quantised in {info['quantized_by']}); float model: {info['float_from']}")
        for fw in fws:
            row = info.get(fw, {})
            if "float" in row:
                print(f"  {fw}: float {row['float']:.4f} dB, int8 {row['int8']:.4f} dB, drop {row['drop']:.4f} dB")
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
