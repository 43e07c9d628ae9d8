"""`jrestore train --config NAME_OR_FILE --workdir DIR [--set key=value ...]` (also `python -m train ...`).
NAME is a recipe (train/configs) or a registered model's name (train.config.load_config).

Multi-host: pass --coordinator HOST:PORT --num-processes N --process-id I (or set JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID) and every process runs the same command; `jax.distributed.initialize`
then joins them and the trainer shards each global batch over every device of every process.
"""
from __future__ import annotations

import os
import sys


def add_parser(p):
    p.add_argument("--config", required=True,
                   help="recipe name (dncnn_s25, dncnn_s25:runlocal), model name (its recipe, else the generic one "
                        "for its kind: ffdnet, ffdnet:runlocal) or a .py file")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl, TensorBoard events, samples, plots")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--coordinator", default=os.environ.get("JAX_COORDINATOR_ADDRESS"), help="HOST:PORT of process 0")
    p.add_argument("--num-processes", type=int, default=int(os.environ.get("JAX_NUM_PROCESSES", "1")))
    p.add_argument("--process-id", type=int, default=int(os.environ.get("JAX_PROCESS_ID", "0")))
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--allow-config-change", action="store_true",
                   help="resume a --workdir whose config.json differs from this config (the changed keys are named)")


def run(args) -> int:
    import jax

    from train.config import load_config
    from train.trainer import NonFiniteLoss, Trainer, prepare_workdir

    cfg = load_config(args.config, args.set)
    if args.print_config:
        print(cfg)
        return 0
    prepare_workdir(args.workdir)  # a --workdir that is a file: one line, before any device work
    if args.coordinator:
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)
    try:
        trainer = Trainer(cfg, args.workdir, allow_config_change=args.allow_config_change)
        last = trainer.run()
    except NonFiniteLoss as err:
        raise ValueError(str(err)) from None
    except KeyboardInterrupt:  # Ctrl-C before training began, or a second one while stopping: no traceback
        print("jrestore train: interrupted; stopped without saving the current step", file=sys.stderr)
        return 130
    if jax.process_index() == 0:
        print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
    # SIGTERM (a scheduler's preemption) saved and stopped cleanly: 0; Ctrl-C: 130, as shells expect
    return 130 if trainer.stopped_by == "SIGINT" else 0
