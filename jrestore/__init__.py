"""jrestore: image-restoration networks in JAX / Flax NNX (NHWC, float32 in [0, 1]).

`jrestore.load(path)` gives a ready model from a weights file or training workdir.
Subpackages: `ops` (pure functions), `layers` (NNX modules), `models` (one file per paper family),
`losses`, `metrics`, `convert` (PyTorch <-> NNX weights), `data`. `torch_ref` mirrors it in PyTorch.
"""
__version__ = "0.1.0"

# Before anything imports jax's backends: fast CPU convolutions by default (see jrestore/runtime.py).
from jrestore.runtime import apply_xla_defaults as _apply_xla_defaults

_apply_xla_defaults()


def load(path, model: str | None = None, **overrides):
    """A ready jrestore model (Flax NNX, eval mode) from a weights file or a training workdir, in the habit of
    `from_pretrained`: `jrestore.load("runs/dncnn")`, `jrestore.load("runs/dncnn:best")`,
    `jrestore.load("net.pth", model="dncnn")`. See `jrestore.convert.loading.load_model` for the arguments."""
    from jrestore.convert.loading import load_model

    return load_model(path, model, **overrides)
