"""Atomic file writes: the one way hangard replaces a file it owns (state,
digest cache, failed list). A reader sees the old content or the new, never
half of it, and a failed write leaves no temporary file behind. Once written,
the new content survives a crash: the file is fsynced before the rename, and
its directory (which holds the rename) after it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "write_atomic"]


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, rename
    it over ``path``, and fsync the directory. Creates the parent directory
    when missing.

    Raises :class:`OSError` when the directory or the disk refuses; the
    temporary file is removed in that case.
    """
    payload = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """fsync ``directory``, so that a rename or a new name in it survives a
    crash (POSIX keeps a file's name in its directory, not in the file)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
