"""XLA's FLOP count of every bench step at the --quick size, from the lowered (pre-optimisation) module and from
the compiled one, on XLA's convolutions; one JSON line per model and mode. Why the bench keeps compiling: the
docstring of jrestore.bench.jax_runner.count_flops; the numbers: docs/measurements.md.

    PYTHONPATH=. python scripts/flop_counts.py [MODEL ...]
"""
import json
import sys
import time

from jrestore.bench.jax_runner import jax_infer, jax_train, xla_flops
from jrestore.bench.specs import get_specs
from jrestore.runtime import use_conv_backend


def main(models) -> None:
    for spec in get_specs(models or None, quick=True):
        for mode, build in (("train", jax_train), ("infer", jax_infer)):
            with use_conv_backend("xla"):  # a oneDNN custom call's FLOPs are invisible to the cost analysis
                _, aot, _, args = build(spec, 1)
                t0 = time.perf_counter()
                lowered = aot.jitted.lower(*args())
                lowered_flops = xla_flops(lowered)
                t1 = time.perf_counter()
                compiled_flops = xla_flops(lowered.compile())
                t2 = time.perf_counter()
            print(json.dumps({"model": spec.name, "mode": mode, "lowered": lowered_flops, "compiled": compiled_flops,
                              "rel_diff": (lowered_flops - compiled_flops) / compiled_flops,
                              "trace_and_cost_s": t1 - t0, "compile_s": t2 - t1}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
