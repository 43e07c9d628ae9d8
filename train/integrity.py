"""What keeps a training workdir trustworthy: a SHA-256 of every checkpoint's files, checked before the
checkpoint is restored, and a lock so that one trainer at a time writes a workdir.

Checksums: CHECKSUM_FILE inside each orbax step directory (`checkpoints/<step>/jrestore.sha256`) holds the
SHA-256 of every other file of that directory (sorted relative paths, sizes and bytes). It is written after
orbax has finalised the step, atomically (jrestore._io.atomic_write_text), so a step either has the
checksum of its complete content or none. orbax ignores the extra file (it restores the named items only).

Lock: WORKDIR/.lock (WORKDIR/.lock.<i> for process i > 0 of a multi-process run, so that a second
multi-process run on the same workdir is refused by every one of its processes), held with fcntl.flock for
the run's life and holding "pid host". The kernel drops a flock when its process dies, so a lock file that
can be locked but still names a holder was left by a run that was killed: it is taken over with a notice.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import sys
from pathlib import Path

from jrestore._io import atomic_write_text

__all__ = ["CHECKSUM_FILE", "digest", "write_checksum", "verify", "WorkdirLock", "WorkdirLocked"]

CHECKSUM_FILE = "jrestore.sha256"


def digest(step_dir) -> tuple[str, int]:
    """(SHA-256 hex digest, number of files) over every file under step_dir except CHECKSUM_FILE: each
    file's relative path, size and bytes, in sorted path order."""
    root = Path(step_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() != CHECKSUM_FILE)
    h = hashlib.sha256()
    for path in files:
        rel = path.relative_to(root).as_posix().encode()
        h.update(len(rel).to_bytes(8, "little") + rel + path.stat().st_size.to_bytes(8, "little"))
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest(), len(files)


def write_checksum(step_dir) -> None:
    """Writes step_dir/CHECKSUM_FILE ("<hex> <file count>") atomically."""
    step_dir = Path(step_dir)
    hexdigest, count = digest(step_dir)
    atomic_write_text(step_dir / CHECKSUM_FILE, f"{hexdigest} {count}\n")


def has_checksum(step_dir) -> bool:
    return (Path(step_dir) / CHECKSUM_FILE).is_file()


def verify(step_dir) -> str | None:
    """None when step_dir's files match its checksum, else why not (a few words)."""
    path = Path(step_dir) / CHECKSUM_FILE
    if not path.is_file():
        return "no checksum file"
    try:
        want = path.read_text().split()
        got, count = digest(step_dir)
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    if len(want) != 2 or want[0] != got or want[1] != str(count):
        return "checksum mismatch: its files changed after it was written"
    return None


class WorkdirLocked(ValueError):
    """Another live trainer holds the workdir."""


class WorkdirLock:
    """`with WorkdirLock(workdir, process_index):` one trainer per workdir (see the module docstring)."""

    def __init__(self, workdir, process_index: int = 0):
        self.path = Path(workdir) / (".lock" if process_index == 0 else f".lock.{process_index}")
        self.file = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        file = os.fdopen(fd, "r+")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = file.read().strip() or "unknown pid"
            file.close()
            pid, _, host = holder.partition(" ")
            raise WorkdirLocked(f"--workdir: {self.path.parent} is in use by another trainer (pid {pid} on host "
                                f"{host or '?'}, lock file {self.path}); wait for it to end or choose another "
                                "--workdir") from None
        previous = file.read().strip()
        if previous:  # the kernel released the lock of a process that died without clearing the file
            pid, _, host = previous.partition(" ")
            print(f"note: taking over the stale lock {self.path} of pid {pid} on host {host} (no longer running)",
                  file=sys.stderr)
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()} {socket.gethostname()}\n")
        file.flush()
        self.file = file

    def release(self) -> None:
        if self.file is None:
            return
        # emptied, not unlinked: a trainer that opened the old inode could otherwise lock a deleted file
        self.file.seek(0)
        self.file.truncate()
        self.file.flush()
        fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
        self.file.close()
        self.file = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
