"""Training observability: WORKDIR/metrics.jsonl (one JSON object per logged step), TensorBoard events in
WORKDIR/tb, sample grids (input / output / target rows) as PNG, and a loss / validation-PSNR plot."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jrestore._io import atomic_write, atomic_write_text

__all__ = ["MetricsLog", "read_metrics", "save_sample_grid", "plot_curves"]


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


class MetricsLog:
    """Appends to metrics.jsonl (flushed per line) and TensorBoard. Entries after step `truncate_after` (the
    restored step; 0, so all, when a run starts from scratch) are dropped first: they belong to the part of
    the run that is being redone. A partly written last line (a killed run) is dropped too."""

    def __init__(self, workdir, truncate_after: int = 0):
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
        self.tb = SummaryWriter(str(Path(workdir) / "tb"))

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                self.tb.add_scalar(key if key.startswith("val_") else f"train/{key}", value, record["step"])

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()


def _to_rgb_uint8(x: np.ndarray, size) -> np.ndarray:
    from PIL import Image
    x = np.clip(np.asarray(x, np.float32), 0, 1)
    x = np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
    img = Image.fromarray(np.round(x * 255).astype(np.uint8))
    return np.asarray(img.resize((size[1], size[0]), Image.NEAREST)) if img.size != (size[1], size[0]) else np.asarray(img)


def save_sample_grid(path, samples, max_side: int = 192) -> None:
    """samples: [(input, output, target)] as [H, W, C] floats; one column per sample, rows input/output/target
    (the input nearest-resized to the target's size), each tile at most max_side pixels; written atomically."""
    import jax
    from PIL import Image
    if not samples or jax.process_index() != 0:
        return
    h, w = samples[0][2].shape[:2]
    f = min(1.0, max_side / max(h, w))
    size = (max(1, int(h * f)), max(1, int(w * f)))
    cols = [np.concatenate([_to_rgb_uint8(a, size) for a in s], axis=0) for s in samples]
    grid = np.concatenate(cols, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))


def plot_curves(workdir) -> Path | None:
    """WORKDIR/curves.png: training loss (log scale) and validation PSNR against step."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(workdir)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    val = [(r["step"], r["val_psnr"]) for r in rows if "val_psnr" in r]
    if not train:
        return None
    fig, axes = plt.subplots(1, 2 if val else 1, figsize=(10 if val else 5, 3.5), squeeze=False)
    ax = axes[0][0]
    ax.plot(*zip(*train))
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    if val:
        ax = axes[0][1]
        ax.plot(*zip(*val), marker="o")
        ax.set_xlabel("step")
        ax.set_ylabel("validation PSNR (dB)")
    fig.tight_layout()
    out = Path(workdir) / "curves.png"
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return out
