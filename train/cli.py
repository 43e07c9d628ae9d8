"""`jrestore train --config NAME_OR_FILE --workdir DIR [--set key=value ...]` (also `python -m train ...`).

Multi-host: pass --coordinator HOST:PORT --num-processes N --process-id I (or set JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID) and every process runs the same command; `jax.distributed.initialize`
then joins them and the trainer shards each global batch over every device of every process.
"""
from __future__ import annotations

import os


def add_parser(p):
    p.add_argument("--config", required=True, help="recipe name (e.g. dncnn_s25 or dncnn_s25:runlocal) or a .py file")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl, TensorBoard events, samples, plots")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--coordinator", default=os.environ.get("JAX_COORDINATOR_ADDRESS"), help="HOST:PORT of process 0")
    p.add_argument("--num-processes", type=int, default=int(os.environ.get("JAX_NUM_PROCESSES", "1")))
    p.add_argument("--process-id", type=int, default=int(os.environ.get("JAX_PROCESS_ID", "0")))
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def run(args) -> int:
    import jax

    from train.config import load_config
    from train.trainer import NonFiniteLoss, Trainer

    cfg = load_config(args.config, args.set)
    if args.print_config:
        print(cfg)
        return 0
    if args.coordinator:
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)
    try:
        last = Trainer(cfg, args.workdir).run()
    except NonFiniteLoss as err:
        raise ValueError(str(err)) from None
    if jax.process_index() == 0:
        print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
    return 0
