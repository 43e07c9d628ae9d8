"""Writing files so that a reader never sees a partial one, with the permissions a plain `open` would give.

    atomic_write(path, lambda tmp: Image.fromarray(img).save(tmp))     # any writer that takes a path
    atomic_write_bytes(path, data); atomic_write_text(path, text)
    write_files_atomically(folder, {name: writer})                     # a set of files that appear together
    check_output_folder(folder, "--out")                               # before any long work: one clear error

Every writer in jrestore (restored images, safetensors, exports, JSON reports, plots, training samples)
goes through `atomic_write` or `write_files_atomically`: the data is written to a temporary file in the
destination folder (same filesystem, so the final `os.replace` is atomic), flushed to disk, given mode
0o666 & ~umask (tempfile.mkstemp makes 0600, which would leave outputs unreadable to the group), then
renamed into place. On any error the temporary file is removed and the destination is left untouched.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "write_files_atomically",
           "check_output_folder", "default_mode"]


def default_mode(directory: bool = False) -> int:
    """The mode `open()` (0o666) or `mkdir()` (0o777) would give under the current umask."""
    umask = os.umask(0)  # the only portable way to read the umask: set it and put it back
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _fsync(path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems (/proc-like, some FUSE) refuse fsync: the rename is still atomic
        pass
    finally:
        os.close(fd)


def atomic_write(path, write: Callable[[str], object]) -> Path:
    """Call `write(tmp)` to fill a temporary file beside `path`, then move it to `path` in one rename.

    The temporary name keeps `path`'s suffix (PIL and matplotlib pick the format from it). The folder must
    exist. Returns `path` as a Path. Whatever `write` raises propagates, with nothing left behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        _fsync(tmp)
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_files_atomically(out_dir, writers: Mapping[str, Callable[[Path], None]], *, overwrite: bool = False,
                           last: str | None = None) -> dict[str, int]:
    """Write files into `out_dir` so a reader never sees a partial set; returns {name: size in bytes}.

    Each writer gets a path inside a temporary folder beside `out_dir` (same filesystem). A new `out_dir`
    appears by one rename (with a normal folder's mode, not mkdtemp's 0700); into an existing one each
    file is moved with os.replace, `last` (e.g. meta.json) after the others. Existing files are refused
    (FileExistsError naming them) unless `overwrite`.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"out: {out_dir} exists and is not a directory")
    clash = sorted(n for n in writers if (out_dir / n).exists())
    if clash and not overwrite:
        raise FileExistsError(f"out: {out_dir} already holds {', '.join(clash)}; pass overwrite to replace them")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for name, write in writers.items():
            write(tmp / name)
            _fsync(tmp / name)
            os.chmod(tmp / name, default_mode())
        sizes = {name: (tmp / name).stat().st_size for name in writers}
        if not out_dir.exists():
            os.chmod(tmp, default_mode(directory=True))
            os.rename(tmp, out_dir)
            return sizes
        for name in sorted(writers, key=lambda n: n == last):
            os.replace(tmp / name, out_dir / name)
        return sizes
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def check_output_folder(folder, what: str, create: bool = False) -> Path:
    """Make sure files can be written into `folder` before any long work; ValueError (one line) otherwise.

    create: `folder` may be missing (the writer makes it later); then its nearest existing ancestor must be
    a folder one can write into. The test is a real one (a temporary file is created and removed there):
    permission bits say nothing for root, read-only mounts or /proc.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what}: {folder} is a file, not a folder")
    target = folder
    if not folder.exists():
        target = next((p for p in folder.parents if p.exists()), Path("."))
        if not target.is_dir():
            raise ValueError(f"{what}: {target} is a file, not a folder (in {folder})")
        if not create:
            raise ValueError(f"{what}: no such folder {folder}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".jrestore-write-test.", dir=target)
    except OSError as err:
        raise ValueError(f"{what}: cannot write into {target} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)
    return folder
