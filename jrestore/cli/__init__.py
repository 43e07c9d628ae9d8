"""The `jrestore` command line: one module per subcommand, each exposing `add_parser(sub)` and `run(args)`."""
from __future__ import annotations

import argparse
import importlib
import sys

from jrestore._command import DEBUG_ENV, DEBUG_HELP, USER_ERRORS, debug_requested, run_command  # noqa: F401
from jrestore.core.plugins import ENTRY_POINT_GROUP, load_plugins

PLUGIN_HELP = (f"a Python file that defines and registers a model of your own: its JAX class, torch twin and "
               f"ModelSpec (repeatable; see examples/tiny_plugin.py). Installed packages' entry points in "
               f"group {ENTRY_POINT_GROUP!r} are always loaded")

# subcommand -> module in jrestore.cli (imported lazily so `jrestore --help` stays fast)
COMMANDS = {
    "demo": "Offline demonstration on package-shipped images, in JAX and PyTorch side by side",
    "verify": "Cross-framework verification of a model (and optionally a checkpoint): per-layer max-abs table",
    "export": "Export a model as serialised StableHLO (jax.export, symbolic shapes) with its params, optionally ONNX too",
    "eval": "PSNR/SSIM of a model on a test set under a paper's protocol, in JAX and PyTorch side by side",
    "train": "Train a recipe (train/configs) data-parallel over every device and host; resumable",
    "restore": "Restore an image or a folder of images of any size (tiled), writing the results atomically",
    "convert": "Convert a weights file (.pth/.pkl/.safetensors/MatConvNet .mat) to a verified PyTorch-layout safetensors file",
    "table": "A method-comparison table (PSNR, SSIM, seconds per image) from real runs at several noise levels / ratios",
    "quantize": "INT8 model (post-training or quantisation-aware) calibrated on a folder: torch.ao or AQT, runs in both",
    "bench": "Throughput of JAX (1 device, data-parallel) beside torch eager, channels_last and torch.compile, per model",
}


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 success; 1 a check failed, some images of a folder failed, or an internal error
    (one line, the traceback with --debug); 2 bad input (one line naming the argument or file).

    argv None (the `jrestore` program, `python -m jrestore`): the process is jrestore's own, so glibc's allocator
    is first set to keep XLA's per-step buffers mapped (jrestore/runtime.py, apply_malloc_defaults; off with
    JRESTORE_MALLOC_DEFAULTS=0). A list (a caller's own process, e.g. a test) leaves the allocator alone."""
    if argv is None:
        from jrestore.runtime import apply_malloc_defaults
        apply_malloc_defaults()  # before any command starts XLA's threads and their arenas
    parser = argparse.ArgumentParser(prog="jrestore", description="Image restoration in JAX/Flax with a PyTorch twin.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"jrestore.cli.{name}")
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        # accepted after the command too; SUPPRESS keeps `jrestore --debug CMD` from being reset to False
        sub_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        sub_parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py", help=PLUGIN_HELP)
        module.add_parser(sub_parser)
        modules[name] = module
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2

    def run(args):
        load_plugins(args.plugin)  # before the command looks up --model; a bad plugin is one line, exit 2
        return modules[args.command].run(args)
    return run_command(f"jrestore {args.command}", run, args, debug_requested(args.debug))


if __name__ == "__main__":
    sys.exit(main())
