"""How every command line entry point reports failure (framework-neutral: imports neither JAX nor torch).

Shared by `jrestore` (jrestore.cli) and `python -m train` (train/__main__.py), so that train need not import
the command line above it. Exit status: 0 success; 1 a check failed or an internal error (one line, the
traceback with --debug); 2 bad input (one line naming the argument or file); 130 interrupted.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

__all__ = ["USER_ERRORS", "DEBUG_ENV", "DEBUG_HELP", "one_line", "debug_requested", "run_command"]

# Mistakes in what the user asked for (bad arguments, missing or unwritable paths): one line, exit 2.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)
DEBUG_ENV = "JRESTORE_DEBUG"
DEBUG_HELP = f"show the Python traceback of any error (also {DEBUG_ENV}=1)"


def one_line(err: BaseException) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


def debug_requested(flag: bool) -> bool:
    """--debug, or JRESTORE_DEBUG set to anything but '', 0, false or no."""
    return bool(flag) or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def run_command(label: str, run: Callable, args, debug: bool) -> int:
    """`run(args)` as the exit status, every failure as one line on stderr prefixed by `label`
    (e.g. 'jrestore train'); with `debug` the exception propagates instead."""
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{label}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:  # bad input: one clear line, no traceback
        if debug:
            raise
        print(f"{label}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug or an unforeseen failure: still one line, the traceback on request
        if debug:
            raise
        print(f"{label}: internal error: {type(err).__name__}: {one_line(err)[:300]} "
              f"(run with --debug or {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 1
