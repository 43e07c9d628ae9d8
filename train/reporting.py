"""What a person sees of a run besides train.log (train/run_files.py). Process 0 writes all of it:

    metrics.jsonl   one JSON object per logged step: {"step", "loss", "lr", "grad_norm", "steps_per_s"} at log
                    steps, {"step", "val_psnr", "val_ssim"[, "val_input_psnr"]} at validations
    tb/             TensorBoard events (tensorboardX): scalars train/loss, train/lr, train/grad_norm,
                    train/steps_per_s and val/psnr, val/ssim, val/input_psnr; the sample grid as the image
                    val/samples at each validation; the flattened resolved config as hparams (the hparams
                    plugin's tags, val/psnr and val/ssim as its metrics) at each start of the trainer
    samples/        step_NNNNNNNN.png: a labelled grid per validation (save_sample_grid)
    curves.png      training loss and validation PSNR against step, the input's PSNR as a dashed baseline,
                    redrawn at every validation (plot_curves)

    tensorboard --logdir WORKDIR/tb        # or: read_events(WORKDIR / "tb") without tensorboard installed
"""
from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import numpy as np

from jrestore._io import atomic_write, atomic_write_text

__all__ = ["MetricsLog", "read_metrics", "read_events", "tb_tag", "sample_grid_path", "save_sample_grid",
           "sample_grid", "plot_curves", "flat_config", "GRID_LABEL_WIDTH", "GRID_HEADER_HEIGHT", "GRID_ROWS",
           "INPUT_BASELINE_LABEL"]

# The sample grid: a band of GRID_LABEL_WIDTH pixels on the left names the rows, one of GRID_HEADER_HEIGHT
# pixels on top names each column (image name, then its PSNR): two lines of PIL's default font (10 px).
GRID_LABEL_WIDTH, GRID_HEADER_HEIGHT = 44, 28
GRID_ROWS = ("input", "output", "target")
INPUT_BASELINE_LABEL = "input (noisy / bicubic)"


def read_metrics(workdir) -> list[dict]:
    path = Path(workdir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _step_of(line: str) -> float:
    """The step of one metrics.jsonl line; infinite (dropped) for a line that is not a whole JSON object."""
    try:
        return json.loads(line).get("step", 0) if line.strip() else float("inf")
    except (ValueError, AttributeError):
        return float("inf")


def tb_tag(key: str) -> str:
    """The TensorBoard tag of a metrics.jsonl key: val_psnr -> val/psnr, val_input_psnr -> val/input_psnr,
    loss -> train/loss (the Flax examples' and BasicSR's split of training and validation curves)."""
    return f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"


def flat_config(cfg) -> dict:
    """The resolved config as {"optim.lr": 1e-4, "model.kwargs.nc": 64, ...} (the TensorBoard hparams), from the
    same JSON form as WORKDIR/config.json; lists as their JSON text."""
    from train.run_files import config_dict

    def flat(tree, prefix):
        if isinstance(tree, dict):
            return {k: v for key, value in tree.items() for k, v in flat(value, f"{prefix}{key}.").items()}
        return {prefix[:-1]: json.dumps(tree) if isinstance(tree, list) else tree}
    return flat(config_dict(cfg), "")


def sample_grid_path(workdir, step: int) -> Path:
    return Path(workdir) / "samples" / f"step_{step:08d}.png"


class MetricsLog:
    """Appends to metrics.jsonl (flushed per line) and TensorBoard (flushed per write, so a validation shows up
    at once rather than after tensorboardX's 2-minute flush). Entries after step `truncate_after` (the
    restored step; 0, so all, when a run starts from scratch) are dropped first: they belong to the part of
    the run that is being redone; TensorBoard is told the same (purge_step), so it hides the old events of
    those steps. A partly written last line (a killed run) is dropped too. Each start writes a new event file.

    hparams: the flattened resolved config ({"optim.lr": 1e-4, ...}), written once as TensorBoard hparams
    (the hparams plugin's experiment and session-start summaries) with val/psnr and val/ssim as metrics;
    values that are not bool / int / float / str are written as their JSON text."""

    def __init__(self, workdir, truncate_after: int = 0, hparams: dict | None = None):
        import jax
        self.enabled = jax.process_index() == 0
        self.path = Path(workdir) / "metrics.jsonl"
        if not self.enabled:
            return
        if self.path.is_file():
            lines = self.path.read_text().splitlines()
            kept = [line for line in lines if _step_of(line) <= truncate_after]
            if len(kept) != len(lines) or (lines and not self.path.read_text().endswith("\n")):
                atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        self.file = open(self.path, "a")
        from tensorboardX import SummaryWriter
        # tensorboardX names the file by the second and opens it with "wb": a restart within the same second
        # would erase the earlier events, hence a suffix (the nanoseconds, so names still sort by time, and pid)
        suffix = f".{time.time_ns() % 1_000_000_000:09d}.{os.getpid()}"
        self.tb = SummaryWriter(str(Path(workdir) / "tb"), purge_step=int(truncate_after) + 1, filename_suffix=suffix)
        if hparams:
            self._write_hparams(hparams)

    def _write_hparams(self, hparams: dict) -> None:
        from tensorboardX.summary import hparams as hparams_summaries
        plain = {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v, default=str)
                 for k, v in hparams.items() if v is not None}
        # The summaries SummaryWriter.add_hparams builds, written into this run's own events (add_hparams would
        # open a sub-run named by the time): the plugin then reads val/psnr from this run's scalars.
        experiment, session_start, _ = hparams_summaries(plain, {tb_tag("val_psnr"): None, tb_tag("val_ssim"): None})
        writer = self.tb._get_file_writer()
        writer.add_summary(experiment)
        writer.add_summary(session_start)
        self.tb.flush()

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                self.tb.add_scalar(tb_tag(key), value, record["step"])
        self.tb.flush()

    def image(self, tag: str, path, step: int) -> None:
        """Adds the PNG at `path` (a sample grid) as a TensorBoard image; nothing when it is not there."""
        if not self.enabled or not Path(path).is_file():
            return
        from PIL import Image
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"))
        self.tb.add_image(tag, pixels, step, dataformats="HWC")
        self.tb.flush()

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()


def read_events(logdir) -> list:
    """Every Event (tensorboardX.proto.event_pb2) in the event files of `logdir`, file by file in name order
    (their names start with the creation time). Reads the TFRecord framing itself (tensorboard's
    EventAccumulator is not a dependency): per record a little-endian uint64 length, its masked CRC-32C, the
    data and the data's masked CRC-32C; a record cut short or failing its CRC (a file still being written)
    ends that file."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    events = []
    for path in sorted(Path(logdir).glob("events.out.tfevents.*")):
        data, pos = path.read_bytes(), 0
        while pos + 12 <= len(data):
            header = data[pos:pos + 8]
            (length,), (header_crc,) = struct.unpack("<Q", header), struct.unpack("<I", data[pos + 8:pos + 12])
            body = data[pos + 12:pos + 12 + length]
            if header_crc != masked_crc32c(header) or len(body) < length or pos + 16 + length > len(data):
                break
            (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
            if body_crc != masked_crc32c(body):
                break
            events.append(Event.FromString(body))
            pos += 16 + length
    return events


def _to_rgb_uint8(x: np.ndarray, size) -> np.ndarray:
    from PIL import Image
    x = np.clip(np.asarray(x, np.float32), 0, 1)
    x = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
    img = Image.fromarray(np.round(x * 255).astype(np.uint8))
    return np.asarray(img.resize((size[1], size[0]), Image.NEAREST)) if img.size != (size[1], size[0]) else np.asarray(img)


def _fit(draw, text: str, font, width: int) -> str:
    """`text`, cut with an ellipsis to fit `width` pixels (a long image name over a small tile)."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "..", font=font) > width:
        text = text[:-1]
    return text + ".." if text else ""


def sample_grid(samples, names=None, psnrs=None, max_side: int = 192) -> np.ndarray:
    """The labelled grid of save_sample_grid as uint8 [H, W, 3]: one column per sample, rows GRID_ROWS
    (the input nearest-resized to the target's size), tiles of the first target's size scaled to at most
    max_side pixels (th x tw). H = GRID_HEADER_HEIGHT + 3 * th, W = GRID_LABEL_WIDTH + len(samples) * tw.
    The left band names the rows; the top band gives each column's name (names[i], when given) and PSNR
    (psnrs[i] in dB, the output against the target under the validation protocol, when given)."""
    from PIL import Image, ImageDraw, ImageFont

    if names is not None and len(names) < len(samples):
        raise ValueError(f"names: expected one per sample ({len(samples)}), got {len(names)}")
    if psnrs is not None and len(psnrs) < len(samples):
        raise ValueError(f"psnrs: expected one per sample ({len(samples)}), got {len(psnrs)}")
    h, w = samples[0][2].shape[:2]
    f = min(1.0, max_side / max(h, w))
    th, tw = max(1, int(h * f)), max(1, int(w * f))
    cols = [np.concatenate([_to_rgb_uint8(a, (th, tw)) for a in s], axis=0) for s in samples]
    tiles = np.concatenate(cols, axis=1)
    grid = Image.new("RGB", (GRID_LABEL_WIDTH + tiles.shape[1], GRID_HEADER_HEIGHT + tiles.shape[0]), (32, 32, 32))
    grid.paste(Image.fromarray(tiles), (GRID_LABEL_WIDTH, GRID_HEADER_HEIGHT))
    draw, font = ImageDraw.Draw(grid), ImageFont.load_default()
    for r, label in enumerate(GRID_ROWS):
        draw.text((3, GRID_HEADER_HEIGHT + r * th + max(0, th // 2 - 6)), label, fill=(255, 255, 255), font=font)
    for c in range(len(samples)):
        psnr = f"{float(psnrs[c]):.2f} dB" if psnrs is not None else ""
        if draw.textlength(psnr, font=font) > tw - 3:
            psnr = psnr[:-3]  # a narrow tile: the number without its unit
        for i, text in enumerate([str(names[c]) if names is not None else "", psnr]):
            draw.text((GRID_LABEL_WIDTH + c * tw + 2, 1 + 13 * i), _fit(draw, text, font, tw - 3),
                      fill=(255, 255, 255), font=font)
    return np.asarray(grid)


def save_sample_grid(path, samples, names=None, psnrs=None, max_side: int = 192) -> None:
    """samples: [(input, output, target)] as [H, W, C] floats in [0, 1]; writes sample_grid(...) as a PNG,
    atomically; process 0 only, nothing for no samples."""
    import jax
    from PIL import Image
    if not samples or jax.process_index() != 0:
        return
    grid = sample_grid(samples, names, psnrs, max_side)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))


def plot_curves(workdir, title: str | None = None) -> Path | None:
    """WORKDIR/curves.png: training loss (log scale) against step; beside it, when validated, the validation
    PSNR and (rows with val_input_psnr) the input's own PSNR as a dashed baseline, so the gain over doing
    nothing is visible. Title: `title`, else the recipe in WORKDIR/config.json. None when nothing is logged."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(workdir)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    val = [(r["step"], r["val_psnr"]) for r in rows if "val_psnr" in r]
    baseline = [(r["step"], r["val_input_psnr"]) for r in rows if r.get("val_input_psnr") is not None]
    if not train:
        return None
    if title is None:
        title = _recipe_of(workdir)
    fig, axes = plt.subplots(1, 2 if val else 1, figsize=(10 if val else 5, 3.8), squeeze=False)
    ax = axes[0][0]
    ax.plot(*zip(*train), label="training loss")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("training loss")
    if val:
        ax = axes[0][1]
        ax.plot(*zip(*val), marker="o", label="validation PSNR (output)")
        if baseline:
            ax.plot(*zip(*baseline), linestyle="--", color="grey", label=INPUT_BASELINE_LABEL)
        ax.set_xlabel("step")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title("validation")
        ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(workdir) / "curves.png"
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return out


def _recipe_of(workdir) -> str | None:
    try:
        cfg = json.loads((Path(workdir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(cfg, dict):
        return None
    model = cfg.get("model")
    return cfg.get("recipe") or (model.get("name") if isinstance(model, dict) else None)
