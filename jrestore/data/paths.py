"""Where the reference data lives: `$JRESTORE_DATA`, else `../shared/data` beside the project checkout."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "DATA_ENV"]

DATA_ENV = "JRESTORE_DATA"


def data_dir(required: bool = False) -> Path | None:
    """The reference-data folder (test sets, official checkpoints, expected_psnr.json), or None if absent.

    Looks at $JRESTORE_DATA first, then at `../shared/data` relative to the project root.
    With `required=True` a missing folder raises FileNotFoundError saying how to point at it.
    """
    env = os.environ.get(DATA_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    if required:
        raise FileNotFoundError(f"reference data not found (looked in {[str(c) for c in candidates]}); "
                                f"set {DATA_ENV}=/path/to/data")
    return None
