"""The framework-neutral core of jrestore: imports neither JAX nor PyTorch (only NumPy and the standard library).

What jrestore and its PyTorch twin torch_ref share, so that `import torch_ref` needs no JAX: argument checks
and constants of each op, layer, metric, loss and model (jrestore/core/<area>/<module>.py holds the part of
jrestore/<area>/<module>.py that needs no framework, which re-exports it), colour matrices, resize kernel
weights, SSIM windows, metric protocols and model specs. Together with jrestore._validate, jrestore.registry,
jrestore._io and jrestore._command it is the lowest import layer (pyproject.toml's [tool.importlinter]).
"""
