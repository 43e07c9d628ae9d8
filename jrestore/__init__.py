"""jrestore: image-restoration networks in JAX / Flax NNX (NHWC, float32 in [0, 1]).

Subpackages: `ops` (pure functions), `layers` (NNX modules), `models` (one file per paper family),
`losses`, `metrics`, `convert` (PyTorch <-> NNX weights), `data`. `torch_ref` mirrors it in PyTorch.
"""
__version__ = "0.1.0"
