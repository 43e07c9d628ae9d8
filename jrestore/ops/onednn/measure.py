"""XLA against oneDNN convolutions on this CPU: the layer shapes of jrestore's models and a DnCNN-17 step.

    python -m jrestore.ops.onednn.measure [--rounds 5] [--reps 3] [--only layers|dncnn] [--layers TEXT] [--cpu-time]

Each case is compiled once per backend, then timed in interleaved rounds (XLA, oneDNN, XLA, ...: `reps` calls
each per round), so both see the same machine load; it prints the median and the minimum in ms and the ratio
XLA / oneDNN of the minima (> 1: oneDNN faster). The minimum is the least disturbed by other processes on a
shared machine; the median says how the two fare under the load there was. --cpu-time times the process's
CPU time instead of the wall clock: with one thread for both libraries (OMP_NUM_THREADS=1 and
XLA_FLAGS=--xla_cpu_multi_thread_eigen=false, under taskset -c 0) that is the work each library does, which a
loaded machine does not inflate (it counts neither waiting nor preemption). Layers: forward ('infer') and
forward + both gradients ('train') of one convolution. DnCNN-17: 17 3x3 convolutions (1 -> 64, 15 x 64 -> 64,
64 -> 1), ReLU between, no BatchNorm, batch 16 of 32x32x1; train = MSE loss, gradient and an SGD update, infer =
forward. docs/measurements.md (oneDNN convolutions) has the numbers that set `auto_rule`.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

# (name, batch, H, W, C_in, C_out, k, stride): the convolutions of jrestore's benchmarked models at --quick sizes
LAYERS = [
    ("dncnn body 64->64 3x3", 16, 32, 32, 64, 64, 3, 1),
    ("dncnn head 1->64 3x3", 16, 32, 32, 1, 64, 3, 1),
    ("dncnn tail 64->1 3x3", 16, 32, 32, 64, 1, 3, 1),
    ("srresnet 3->64 9x9", 16, 24, 24, 3, 64, 9, 1),
    ("srresnet upsampler 64->256 3x3", 16, 24, 24, 64, 256, 3, 1),
    ("fsrcnn 1->56 5x5", 16, 24, 24, 1, 56, 5, 1),
    ("fsrcnn shrink 56->12 1x1", 16, 24, 24, 56, 12, 1, 1),
    ("fsrcnn map 12->12 3x3", 16, 24, 24, 12, 12, 3, 1),
    ("espcn 64->32 3x3", 16, 24, 24, 64, 32, 3, 1),
    ("vgg-disc 64->64 4x4 stride 2", 16, 48, 48, 64, 64, 4, 2),
    ("ista 1->32 3x3", 16, 33, 33, 1, 32, 3, 1),
    ("ista 32->32 3x3", 16, 33, 33, 32, 32, 3, 1),
    ("ista 32->1 3x3", 16, 33, 33, 32, 1, 3, 1),
    ("srcnn 1->64 9x9", 16, 48, 48, 1, 64, 9, 1),
    ("srcnn 64->32 5x5", 16, 48, 48, 64, 32, 5, 1),
    ("srcnn 32->1 5x5", 16, 48, 48, 32, 1, 5, 1),
    ("espcn 1->64 5x5", 16, 16, 16, 1, 64, 5, 1),
    ("espcn 64->32 3x3 (16x16)", 16, 16, 16, 64, 32, 3, 1),
    ("espcn 32->9 3x3", 16, 16, 16, 32, 9, 3, 1),
]


CLOCK = [time.perf_counter]


def _timed(rounds: int, reps: int, backends: dict) -> dict:
    import jax
    clock = CLOCK[0]
    times = {b: [] for b in backends}
    for b, f in backends.items():
        jax.block_until_ready(f())  # compile and warm up
    for _ in range(rounds):
        for b, f in backends.items():
            for _ in range(reps):
                t0 = clock()
                jax.block_until_ready(f())
                times[b].append(clock() - t0)
    return {b: (1e3 * float(np.median(v)), 1e3 * float(np.min(v))) for b, v in times.items()}


def _conv(backend):
    from jax import lax

    from jrestore.ops import onednn

    def conv(x, w, stride, pad):
        if backend == "onednn":
            return onednn.conv2d(x, w, (stride, stride), (pad, pad))
        return lax.conv_general_dilated(x, w, (stride, stride), (pad, pad), dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return conv


def measure_layers(rounds: int, reps: int, match: str | None = None) -> list[dict]:
    import jax
    import jax.numpy as jnp
    rows = []
    for name, n, h, w, cin, cout, k, stride in LAYERS:
        if match and match not in name:
            continue
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal((n, h, w, cin)), jnp.float32)
        wt = jnp.asarray(rng.standard_normal((k, k, cin, cout)) * 0.1, jnp.float32)
        pad = ((k - 1) // 2, k // 2)
        for mode in ("infer", "train"):
            fns = {}
            for backend in ("xla", "onednn"):
                conv = _conv(backend)
                if mode == "infer":
                    f = jax.jit(lambda x, wt, conv=conv: conv(x, wt, stride, pad))
                else:
                    f = jax.jit(jax.grad(lambda x, wt, conv=conv: jnp.sum(conv(x, wt, stride, pad) ** 2), (0, 1)))
                fns[backend] = lambda f=f: f(x, wt)
            rows.append({"case": name, "mode": mode, **_flat(_timed(rounds, reps, fns))})
    return rows


def measure_dncnn(rounds: int, reps: int) -> list[dict]:
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(0)
    chans = [1] + [64] * 16 + [1]
    params = [(jnp.asarray(rng.standard_normal((3, 3, a, b)) * np.sqrt(2 / (9 * a)), jnp.float32),
               jnp.zeros((b,), jnp.float32)) for a, b in zip(chans[:-1], chans[1:])]
    x = jnp.asarray(rng.random((16, 32, 32, 1)), jnp.float32)
    target = 0.9 * x
    rows = []
    for mode in ("infer", "train"):
        fns = {}
        for backend in ("xla", "onednn"):
            conv = _conv(backend)

            def net(params, x, conv=conv):
                for i, (wt, b) in enumerate(params):
                    x = conv(x, wt, 1, (1, 1)) + b
                    x = jax.nn.relu(x) if i < len(params) - 1 else x
                return x

            if mode == "infer":
                f = jax.jit(net)
                fns[backend] = lambda f=f: f(params, x)
            else:
                def step(params, x, target, net=net):
                    loss, grads = jax.value_and_grad(lambda p: jnp.mean((net(p, x) - target) ** 2))(params)
                    return loss, jax.tree.map(lambda p, g: p - 1e-3 * g, params, grads)
                f = jax.jit(step)
                fns[backend] = lambda f=f: f(params, x, target)
        rows.append({"case": "DnCNN-17 (64 ch, no BN), batch 16 of 32x32x1", "mode": mode,
                     **_flat(_timed(rounds, reps, fns))})
    return rows


def _flat(result: dict) -> dict:
    (xm, xmin), (om, omin) = result["xla"], result["onednn"]
    return {"xla_median_ms": xm, "xla_min_ms": xmin, "onednn_median_ms": om, "onednn_min_ms": omin,
            "xla_over_onednn_min": xmin / omin}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m jrestore.ops.onednn.measure", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--only", choices=("layers", "dncnn"))
    p.add_argument("--layers", metavar="TEXT", help="only the layer cases whose name contains TEXT")
    p.add_argument("--cpu-time", action="store_true", help="time the process's CPU time, not the wall clock")
    args = p.parse_args(argv)
    if args.cpu_time:
        CLOCK[0] = time.process_time
    from jrestore.ops import onednn  # `python -m` imported the jrestore package first: its XLA flags are set
    state = onednn.status()
    if not state["available"]:
        print(f"oneDNN convolutions are not available: {state['reason']}", file=sys.stderr)
        return 1
    rows = []
    if args.only != "dncnn":
        rows += measure_layers(args.rounds, args.reps, args.layers)
    if args.only != "layers":
        rows += measure_dncnn(args.rounds, args.reps)
    print(f"({'process CPU time' if args.cpu_time else 'wall clock'})")
    print("| case | mode | XLA median / min ms | oneDNN median / min ms | XLA / oneDNN (min) |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['case']} | {r['mode']} | {r['xla_median_ms']:.2f} / {r['xla_min_ms']:.2f} | "
              f"{r['onednn_median_ms']:.2f} / {r['onednn_min_ms']:.2f} | {r['xla_over_onednn_min']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
