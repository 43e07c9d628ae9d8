"""The `jrestore` command line: one module per subcommand, each exposing `add_parser(sub)` and `run(args)`."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> module in jrestore.cli (imported lazily so `jrestore --help` stays fast)
COMMANDS = {
    "demo": "Offline demonstration on package-shipped images, in JAX and PyTorch side by side",
    "verify": "Cross-framework verification of a model (and optionally a checkpoint): per-layer max-abs table",
    "export": "Export a model as serialised StableHLO (jax.export, symbolic shapes) with its params, optionally ONNX too",
    "eval": "PSNR/SSIM of a model on a test set under a paper's protocol, in JAX and PyTorch side by side",
    "train": "Train a recipe (train/configs) data-parallel over every device and host; resumable",
    "restore": "Restore an image or a folder of images of any size (tiled), writing the results atomically",
    "convert": "Convert a weights file (.pth/.pkl/.safetensors/MatConvNet .mat) to a verified PyTorch-layout safetensors file",
    "bench": "Throughput of JAX (1 device, data-parallel) beside torch eager, channels_last and torch.compile, per model",
}


# Mistakes in what the user asked for (bad arguments, missing or unwritable paths): one line, exit 2.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)
DEBUG_ENV = "JRESTORE_DEBUG"
_DEBUG_HELP = f"show the Python traceback of any error (also {DEBUG_ENV}=1)"


def _one_line(err: BaseException) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 success; 1 a check failed, some images of a folder failed, or an internal error
    (one line, the traceback with --debug); 2 bad input (one line naming the argument or file)."""
    parser = argparse.ArgumentParser(prog="jrestore", description="Image restoration in JAX/Flax with a PyTorch twin.")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"jrestore.cli.{name}")
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        # accepted after the command too; SUPPRESS keeps `jrestore --debug CMD` from being reset to False
        sub_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
        module.add_parser(sub_parser)
        modules[name] = module
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    try:
        return int(modules[args.command].run(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"jrestore {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:  # bad input: one clear line, no traceback
        if debug:
            raise
        print(f"jrestore {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug or an unforeseen failure: still one line, the traceback on request
        if debug:
            raise
        print(f"jrestore {args.command}: internal error: {type(err).__name__}: {_one_line(err)[:300]} "
              f"(run with --debug or {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
