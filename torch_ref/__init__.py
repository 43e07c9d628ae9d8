"""torch_ref: the PyTorch twin of jrestore (NCHW), file for file and name for name.

It needs torch but not torchvision. Protocol definitions and host-side NumPy helpers are imported from
jrestore so that each is defined once.
"""
__version__ = "0.1.0"


def load(path, model: str | None = None, **overrides):
    """A ready torch_ref model (eval mode) from a weights file or a training workdir, in the habit of
    `from_pretrained`: `torch_ref.load("runs/dncnn")`, `torch_ref.load("runs/dncnn:best")`,
    `torch_ref.load("net.pth", model="dncnn")`. See `torch_ref.loading.load` for the arguments."""
    from torch_ref.loading import load as _load

    return _load(path, model, **overrides)
