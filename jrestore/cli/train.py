"""`jrestore train`: see train/cli.py (the trainer lives in the `train` package, installed with the project)."""
from train.cli import add_parser, run  # noqa: F401
