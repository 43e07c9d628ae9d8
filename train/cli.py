"""`jrestore train --config NAME_OR_FILE --workdir DIR [--set key=value ...]` (also `python -m train ...`).
NAME is a recipe (train/configs) or a registered model's name (train.config.load_config).

Many hosts (README "Training on many hosts"): every process runs the same command, `jax.distributed.initialize`
joins them and the trainer shards each global batch over every device of every process.
  --distributed auto      JAX detects the cluster itself (Cloud TPU pod slices, SLURM srun, GKE TPU, Open MPI
                          mpirun; jax/_src/clusters); --coordinator / --num-processes / --process-id, when given,
                          override what it detects.
  --distributed explicit  --coordinator HOST:PORT --num-processes N --process-id I (or JAX_COORDINATOR_ADDRESS,
                          JAX_NUM_PROCESSES, JAX_PROCESS_ID), nothing detected.
  --distributed off       one process, whatever the environment says.
Without --distributed: explicit when a coordinator is given, else off (one process), as before.
"""
from __future__ import annotations

import os
import sys


DISTRIBUTED_MODES = ("off", "auto", "explicit")


def _env_int(name: str):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") and value.strip().lstrip("-").isdigit() else None


def distributed_settings(args) -> dict | None:
    """The keyword arguments of jax.distributed.initialize for args.distributed (None: one process, no call).

    auto: only what the user gave (JAX detects the rest); explicit: all three, each checked here so that a
    missing one is one line naming the flag rather than JAX's own message."""
    mode = args.distributed or ("explicit" if args.coordinator else "off")
    if mode not in DISTRIBUTED_MODES:
        raise ValueError(f"--distributed: expected one of {list(DISTRIBUTED_MODES)}, got {mode!r}")
    if mode == "off":
        return None
    given = {"coordinator_address": args.coordinator, "num_processes": args.num_processes,
             "process_id": args.process_id}
    if mode == "auto":
        return {k: v for k, v in given.items() if v is not None}
    if not args.coordinator:
        raise ValueError("--coordinator: --distributed explicit needs HOST:PORT of process 0 (or "
                         "JAX_COORDINATOR_ADDRESS); got none")
    if args.num_processes is None or args.num_processes < 1:
        raise ValueError(f"--num-processes: --distributed explicit needs a positive process count (or "
                         f"JAX_NUM_PROCESSES); got {args.num_processes}")
    if args.process_id is None or not 0 <= args.process_id < args.num_processes:
        raise ValueError(f"--process-id: expected 0 <= id < --num-processes = {args.num_processes} (or "
                         f"JAX_PROCESS_ID); got {args.process_id}")
    return given


def start_distributed(args) -> None:
    """Joins this process to the others (jax.distributed.initialize) as --distributed says; a cluster that
    cannot be found or joined is one ValueError (one line from the CLI)."""
    settings = distributed_settings(args)
    if settings is None:
        return
    import jax
    try:
        jax.distributed.initialize(**settings)
    except (ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if args.distributed == "auto" and "coordinator_address should be defined" in str(err):
            raise ValueError("--distributed auto: no cluster found (JAX detects Cloud TPU pod slices, SLURM srun "
                             "tasks, GKE TPU jobs and Open MPI mpirun); run under one of them, or pass --coordinator "
                             "HOST:PORT --num-processes N --process-id I") from None
        raise ValueError(f"--distributed {args.distributed or 'explicit'}: jax.distributed.initialize failed: "
                         f"{first}") from None


def add_parser(p):
    p.add_argument("--config", required=True,
                   help="recipe name (dncnn_s25, dncnn_s25:runlocal), model name (its recipe, else the generic one "
                        "for its kind: ffdnet, ffdnet:runlocal) or a .py file")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl, TensorBoard events, samples, plots")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--distributed", choices=DISTRIBUTED_MODES, default=None,
                   help="many hosts: 'auto' lets JAX detect the cluster (TPU pod, SLURM, GKE, mpirun), 'explicit' "
                        "takes --coordinator/--num-processes/--process-id, 'off' runs one process (default: explicit "
                        "when a coordinator is given, else off)")
    p.add_argument("--coordinator", default=os.environ.get("JAX_COORDINATOR_ADDRESS"),
                   help="HOST:PORT of process 0 (default $JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--num-processes", type=int, default=_env_int("JAX_NUM_PROCESSES"),
                   help="processes in the run (default $JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, default=_env_int("JAX_PROCESS_ID"),
                   help="this process's index, 0 .. N-1 (default $JAX_PROCESS_ID)")
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
    start_distributed(args)
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
