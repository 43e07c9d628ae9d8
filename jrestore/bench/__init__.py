"""`jrestore bench`: JAX (1 device, data-parallel) beside PyTorch (eager NCHW, channels_last, torch.compile)
on every model of the zoo at documented standard sizes, in one run on one machine (scripts/device_bench: the
accelerator run around it).

    specs.py        standard and --quick sizes, the trainer config each step comes from, random batches
    measure.py      timing (first call, warm-up, timed steps, spread) and the RSS peak sampler
    jax_runner.py   JAX rows, in a subprocess started with N host devices (XLA_FLAGS is read at import)
    torch_runner.py torch rows, in the calling process
    report.py       derived numbers (images/s, GFLOP/s, fraction of peak, ratios vs torch.compile and vs the
                    best PyTorch with their spread across rounds), JSON, markdown, PNG
    run.py          run_bench(): the order of the measurements (JAX/torch interleaved in rounds), pipeline rates
    xla_tune.py     `jrestore bench --tune-xla`: XLA CPU flags chosen by measurement, cached per machine

    from jrestore.bench import run_bench, write_outputs
    result = run_bench(models=["dncnn"], quick=True)
"""
from jrestore.bench.report import write_outputs
from jrestore.bench.run import run_bench
from jrestore.bench.specs import IMPLS, MODES

__all__ = ["run_bench", "write_outputs", "IMPLS", "MODES"]
