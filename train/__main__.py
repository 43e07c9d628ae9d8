"""`python -m train --config ... --workdir ...`: the same as `jrestore train`.

Builds its own parser from train.cli rather than calling jrestore.cli.main, so train never imports the
command line that sits above it (see pyproject.toml's [tool.importlinter] layers).
"""
import argparse
import sys

from jrestore._command import DEBUG_HELP, debug_requested, run_command
from jrestore.core.plugins import load_plugins
from train import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description="Train a recipe (train/configs); resumable")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                        help="a Python file registering a model of your own (see examples/tiny_plugin.py)")
    cli.add_parser(parser)
    args = parser.parse_args(argv)

    def run(args):
        load_plugins(args.plugin)  # before the config names the model
        return cli.run(args)
    return run_command("jrestore train", run, args, debug_requested(args.debug))


if __name__ == "__main__":
    sys.exit(main())
