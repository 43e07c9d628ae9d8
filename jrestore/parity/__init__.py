"""Cross-framework comparison of jrestore against torch_ref (needs torch; the `torch` extra).

The machinery `jrestore verify` and the parity suite (`parity_tests/`) share:
  tolerances   - every cross-framework tolerance, in one place;
  harness      - perturb a torch module's state, layout helpers, named max-abs reports;
  model_parity - whole-model comparison (eval, train, gradients, one Adam step, per-layer trace):
                 `compare` for any torch module and its NNX twin, `compare_model` for a registered name;
  layer_trace  - per-layer outputs of both twins, matched by module path;
  cases        - one `ModelCase` per registered model (the inputs and constructor arguments verify uses).
Import the submodules directly; this package imports nothing itself, so `jrestore.parity.tolerances`
loads without torch or JAX. `jrestore.parity.compare` is model_parity.compare, imported on first access.
"""


def __getattr__(name: str):
    # PEP 562: `jrestore.parity.compare` without importing torch / JAX for `jrestore.parity.tolerances`
    if name == "compare":
        from jrestore.parity.model_parity import compare

        return compare
    raise AttributeError(f"module 'jrestore.parity' has no attribute {name!r}")
