"""`python -m train --config ... --workdir ...`: the same as `jrestore train`.

Builds its own parser from train.cli rather than calling jrestore.cli.main, so train never imports the
command line that sits above it (see pyproject.toml's [tool.importlinter] layers).
"""
import argparse
import sys

from jrestore._command import DEBUG_HELP, debug_requested, run_command
from train import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description="Train a recipe (train/configs); resumable")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    cli.add_parser(parser)
    args = parser.parse_args(argv)
    return run_command("jrestore train", cli.run, args, debug_requested(args.debug))


if __name__ == "__main__":
    sys.exit(main())
