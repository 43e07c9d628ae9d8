"""jrestore: image-restoration networks in JAX / Flax NNX (NHWC, float32 in [0, 1]).

Subpackages: `ops` (pure functions), `layers` (NNX modules), `models` (one file per paper family),
`losses`, `metrics`, `convert` (PyTorch <-> NNX weights), `data`. `torch_ref` mirrors it in PyTorch.
"""
__version__ = "0.1.0"

# Before anything imports jax's backends: fast CPU convolutions by default (see jrestore/runtime.py).
from jrestore.runtime import apply_xla_defaults as _apply_xla_defaults

_apply_xla_defaults()
