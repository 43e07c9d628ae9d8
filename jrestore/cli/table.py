"""`jrestore table denoise|cs`: a method-comparison table from real runs, as the design documents' tables
(seed 004's denoising table, seed 000's compressed-sensing table), one row per method and one column group
per noise level (denoise) or sampling ratio (cs): mean PSNR, mean SSIM and seconds per image.

    jrestore table denoise --data $D/denoise/Set12 --sigma 15 25 50 \\
        --method bm3d --method dncnn=$D/denoise/weights/dncnn_25.pth@25
    jrestore table cs --data $D/cs/Set11 --cs-ratio 10 25 --cs-matrices $D/cs/ista_net/sampling_matrix \\
        --method ista --method admm --method ista_net_plus=$D/cs/.../net_params_200.pkl@25

A method is NAME (a baseline or weight-free model: bm3d, ista, admm), NAME=WEIGHTS (a registered model with
its weights file or training workdir) or either with @S1,S2 (only at those settings: a checkpoint trained
for one noise level or ratio). Scores come from `jrestore eval`'s evaluation (the papers' protocols:
kair_dncnn, ista_net) in one framework (--framework, JAX by default); seconds per image are wall time of
restoring, the first image excluded (it includes compilation) when there are several. --out writes the
table as .md, .csv or .json (atomically).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from jrestore.cli.verify import parse_sets, pin_full_precision

KINDS = {"denoise": ("kair_dncnn", "sigma"), "cs": ("ista_net", "cs_ratio")}


def add_parser(p):
    p.add_argument("kind", choices=sorted(KINDS), help="denoise (kair_dncnn protocol) or cs (ista_net protocol)")
    p.add_argument("--data", required=True, help="folder of test images (Set12, BSD68, Set11, ...)")
    p.add_argument("--method", action="append", required=True, metavar="NAME[=WEIGHTS][@S1,S2]",
                   help="a row: a baseline or weight-free model (bm3d, ista, admm), or NAME=WEIGHTS; @settings "
                        "limits it to those noise levels / ratios (repeatable)")
    p.add_argument("--sigma", type=float, nargs="+", help="denoise: noise levels on the 0-255 scale")
    p.add_argument("--cs-ratio", type=int, nargs="+", help="cs: sampling ratios in percent")
    p.add_argument("--cs-matrices", help="cs: folder with phi_0_{R}_1089.mat and Initialization_Matrix_{R}.mat")
    p.add_argument("--framework", choices=("jax", "torch"), default="jax")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="constructor argument for every model row (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--out", metavar="FILE", help="also write the table to FILE (.md, .csv or .json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def parse_method(text: str) -> dict:
    """'dncnn=w.pth@15,25' -> {"label", "model", "weights", "only"}; one ValueError for a malformed one."""
    body, _, only = text.partition("@")
    model, _, weights = body.partition("=")
    if not model or (("=" in body) and not weights) or ("@" in text and not only):
        raise ValueError(f"--method: expected NAME, NAME=WEIGHTS or either with @S1,S2, got {text!r}")
    try:
        settings = [float(s) for s in only.split(",")] if only else None
    except ValueError:
        raise ValueError(f"--method: the settings after @ must be numbers, got {only!r} in {text!r}") from None
    label = f"{model} ({Path(weights).name})" if weights else model
    return {"label": label, "model": model, "weights": weights or None, "only": settings}


def run(args) -> int:
    from jrestore.evaluation.evaluate import evaluate
    from jrestore.inference import build_task

    protocol, axis = KINDS[args.kind]
    settings = args.sigma if args.kind == "denoise" else args.cs_ratio
    flag = "--sigma" if args.kind == "denoise" else "--cs-ratio"
    if not settings:
        raise ValueError(f"{flag}: the {args.kind} table needs at least one value")
    methods = [parse_method(m) for m in args.method]
    out = Path(args.out) if args.out else None
    if out is not None:
        from jrestore._io import check_output_folder
        if out.suffix.lower() not in (".md", ".csv", ".json"):
            raise ValueError(f"--out: expected a .md, .csv or .json file name, got {out}")
        if out.exists() and not args.overwrite:
            raise ValueError(f"--out: {out} already exists; pass --overwrite to replace it")
        check_output_folder(out.parent, "--out")
    pin_full_precision()
    model_kwargs = parse_sets(args.set)
    rows = []
    for method in methods:
        cells = {}
        for value in settings:
            if method["only"] is not None and float(value) not in method["only"]:
                continue
            setting = {"sigma": value} if args.kind == "denoise" else {"cs_ratio": int(value),
                                                                        "cs_matrices": args.cs_matrices}
            task = build_task(method["model"], method["weights"], frameworks=(args.framework,),
                              model_kwargs=dict(model_kwargs) if method["weights"] else {}, **setting)
            stamps = [time.perf_counter()]
            result = evaluate(task, args.data, protocol, sigma=setting.get("sigma"), progress=not args.json,
                              on_restored=lambda *_: stamps.append(time.perf_counter()))
            res = result[args.framework]
            cells[_key(value)] = {"psnr": res["mean_psnr"], "ssim": res["mean_ssim"],
                                  "seconds_per_image": _seconds(stamps), "images": len(res["per_image"]),
                                  "weights": method["weights"]}
        rows.append({"method": method["label"], "model": method["model"], "results": cells})
    rows = merge_rows(rows)
    table = {"kind": args.kind, "protocol": protocol, "data": args.data, "framework": args.framework,
             "axis": axis, "settings": [_key(v) for v in settings], "rows": rows}
    if out is not None:
        from jrestore._io import atomic_write_text
        atomic_write_text(out, json.dumps(table, indent=1) + "\n" if out.suffix.lower() == ".json"
                          else _csv(table) if out.suffix.lower() == ".csv" else _markdown(table))
    print(json.dumps(table) if args.json else _markdown(table), end="" if not args.json else "\n")
    return 0


def merge_rows(rows: list) -> list:
    """One row per method: rows of the same model whose settings do not overlap (a checkpoint per noise level or
    ratio, ISTA-Net+'s net_params_200.pkl at 10 % and at 25 %) become one row named by the model, each cell
    keeping its weights; rows that still share a label get their weights' folder in it."""
    merged, by_model = [], {}
    for row in rows:
        first = by_model.get(row["model"])
        if first is not None and not set(first["results"]) & set(row["results"]):
            first["method"] = row["model"]
            first["results"].update(row["results"])
            continue
        by_model.setdefault(row["model"], row)
        merged.append(row)
    labels = [r["method"] for r in merged]
    for row in merged:
        weights = {c.get("weights") for c in row["results"].values()} - {None}
        if labels.count(row["method"]) > 1 and len(weights) == 1:
            path = Path(weights.pop())
            row["method"] = f"{row['model']} ({path.parent.name}/{path.name})"
    return [{k: v for k, v in r.items() if k != "model"} for r in merged]


def _key(value) -> str:
    return f"{float(value):g}"


def _seconds(stamps: list) -> float:
    """Per-image restore time from the clock readings [start, after image 1, after image 2, ...]; the first
    image (compilation) is left out when there are others."""
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return float(sum(gaps[1:]) / len(gaps[1:])) if len(gaps) > 1 else float(gaps[0]) if gaps else float("nan")


def _markdown(table: dict) -> str:
    symbol = "sigma" if table["kind"] == "denoise" else "ratio %"
    head = ["method"] + [f"{symbol} {s}: PSNR / SSIM / s" for s in table["settings"]]
    lines = [f"{table['kind']} on {table['data']} ({table['protocol']} protocol, {table['framework']})", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table["rows"]:
        cells = [row["method"]]
        for s in table["settings"]:
            c = row["results"].get(s)
            cells.append(f"{c['psnr']:.2f} / {c['ssim']:.4f} / {c['seconds_per_image']:.3g}" if c else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv(table: dict) -> str:
    lines = [f"method,{table['axis']},psnr,ssim,seconds_per_image,images"]
    for row in table["rows"]:
        for s, c in row["results"].items():
            lines.append(f"\"{row['method']}\",{s},{c['psnr']!r},{c['ssim']!r},{c['seconds_per_image']!r},{c['images']}")
    return "\n".join(lines) + "\n"
