"""One logical byte stream kept in one file or split into numbered parts
(``FILE.zip.001``, ``FILE.zip.002``, …, each at most ``part_size`` bytes):
what the zip container reads and writes, so that ``cat FILE.zip.0*`` gives
the whole archive.

Reads and writes are positional (``os.pread``/``os.pwrite``): no shared file
position, so several threads can stream entries while one writes.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable
from pathlib import Path

from hangard.errors import ArchiveError

__all__ = ["PartedFile", "StreamView", "find_parts", "fsync_dir", "numbered", "part_path"]


def part_path(final: Path, number: int, suffix: str = "") -> Path:
    """Part ``number`` (from 1) of the split archive ``final``; ``suffix``
    ``".partial"`` for the part being written."""
    return final.with_name(f"{final.name}.{number:03d}{suffix}")


def numbered(final: Path, suffix: str = "") -> list[Path]:
    """Every ``FILE.zip.NNN`` (with ``suffix``) there is, in order, gaps and all."""
    pattern = re.compile(re.escape(final.name) + r"\.(\d{3,})" + re.escape(suffix) + "$")
    found = (
        (int(m.group(1)), p)
        for p in final.parent.glob(f"{_glob_escape(final.name)}.[0-9][0-9][0-9]*{suffix}")
        if (m := pattern.match(p.name))
    )
    return [p for _, p in sorted(found)]


def find_parts(final: Path, suffix: str = "") -> list[Path]:
    """The parts of ``final`` (with ``suffix``), in order: ``FILE.zip.001``
    onwards. A gap is an :class:`ArchiveError` naming the first missing part."""
    parts = numbered(final, suffix)
    for number, path in enumerate(parts, start=1):
        if path != part_path(final, number, suffix):
            missing = part_path(final, number, suffix)
            raise ArchiveError(f"{missing}: part {number} of {final} is missing")
    return parts


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(fd: int, path: Path) -> None:
    """One writer per archive: a second one (another save, or the daemon)
    is refused. The lock goes with the process, however it ends."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ArchiveError(f"{path}: another process is writing this archive") from None


class PartedFile:
    """A byte stream over ``paths`` (one file, or parts of ``part_size``).

    Writable streams create further parts through ``next_path`` as writes
    pass the end of the last one; every part but the last holds exactly
    ``part_size`` bytes. A writable stream holds an exclusive lock on its
    first part while it is open.
    """

    def __init__(
        self,
        paths: list[Path],
        part_size: int | None,
        *,
        next_path: Callable[[int], Path] | None = None,
    ) -> None:
        self.part_size = part_size
        self._next_path = next_path
        self.paths: list[Path] = []
        self._fds: list[int] = []
        self._sizes: list[int] = []
        self._closed = False
        flags = os.O_RDWR | os.O_CREAT if next_path else os.O_RDONLY
        try:
            for path in paths:
                self._fds.append(os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644))
                self.paths.append(path)
                self._sizes.append(os.fstat(self._fds[-1]).st_size)
            if next_path and self._fds:
                _lock(self._fds[0], self.paths[0])
            self._check_sizes()
        except OSError as exc:
            self.close()
            raise ArchiveError(f"{exc.filename}: cannot open: {exc.strerror}") from exc
        except BaseException:
            self.close()
            raise

    def _check_sizes(self) -> None:
        if self.part_size is None:
            return
        for index, size in enumerate(self._sizes):
            last = index == len(self._sizes) - 1
            if size > self.part_size or (not last and size != self.part_size):
                raise ArchiveError(
                    f"{self.paths[index]}: {size} bytes, but the parts of this archive are "
                    f"{self.part_size} bytes: a damaged part or one from another archive"
                )

    @property
    def size(self) -> int:
        return sum(self._sizes)

    def _locate(self, pos: int) -> tuple[int, int]:
        """The part holding logical offset ``pos`` and the offset inside it."""
        if self.part_size is None:
            return 0, pos
        return divmod(pos, self.part_size)

    def pread(self, count: int, pos: int) -> bytes:
        """Up to ``count`` bytes from ``pos``; fewer only at the end."""
        self._check_open()
        chunks: list[bytes] = []
        while count > 0:
            index, inner = self._locate(pos)
            if index >= len(self._fds):
                break
            room = min(count, self._sizes[index] - inner)  # never a buffer past the end
            if room <= 0:
                break
            data = os.pread(self._fds[index], room, inner)
            if not data:
                break
            chunks.append(data)
            count -= len(data)
            pos += len(data)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def pwrite(self, data: bytes | bytearray | memoryview, pos: int) -> None:
        """Write ``data`` at ``pos`` (at most the current end)."""
        self._check_open()
        view = memoryview(data)
        while view:
            index, inner = self._locate(pos)
            while index >= len(self._fds):
                self._add_part()
            room = len(view) if self.part_size is None else min(len(view), self.part_size - inner)
            written = os.pwrite(self._fds[index], view[:room], inner)
            self._sizes[index] = max(self._sizes[index], inner + written)
            view = view[written:]
            pos += written

    def _add_part(self) -> None:
        assert self._next_path is not None, "a read-only stream"
        path = self._next_path(len(self._fds) + 1)
        self._fds.append(os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644))
        self.paths.append(path)
        self._sizes.append(0)

    def truncate(self, size: int) -> None:
        """Cut the stream to ``size`` bytes, removing parts past it."""
        index, inner = self._locate(size)
        if self.part_size is not None and inner == 0 and index > 0:
            index, inner = index - 1, self.part_size
        while len(self._fds) > max(index + 1, 1):
            os.close(self._fds.pop())
            self._sizes.pop()
            self.paths.pop().unlink()
        if self._fds:
            os.ftruncate(self._fds[-1], inner)
            self._sizes[-1] = inner

    def fsync(self) -> None:
        for fd in self._fds:
            os.fsync(fd)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.paths[0] if self.paths else 'archive'} is closed")

    def close(self) -> None:
        self._closed = True
        while self._fds:
            os.close(self._fds.pop())


class StreamView:
    """A read-only file object over a :class:`PartedFile` (for :mod:`zipfile`)."""

    def __init__(self, stream: PartedFile) -> None:
        self._stream = stream
        self._pos = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._stream.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, count: int = -1) -> bytes:
        if count < 0:
            count = max(0, self._stream.size - self._pos)
        data = self._stream.pread(count, self._pos)
        self._pos += len(data)
        return data
