"""One Hangar archive open for a run (:class:`Archive`), and the run's set
of them (:class:`ArchiveSet`), so every store naming one file shares one
zip reader or writer, one index and one write lock.

An archive is read through a :class:`~hangard.stores.archive.ZipReader`
until the first write, then through a
:class:`~hangard.stores.archive.ZipWriter` (``FILE.zip.partial``: a
finished archive is appended to, an interrupted one resumed). Nothing is
final until :meth:`Archive.commit` writes the top ``index.json`` and the
central directory and renames the partial; a failed run leaves the partial
for the next one to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hangard.core.archive import (
    INDEX_NAME,
    ArchiveIndex,
    BaseRef,
    ListEntry,
    parse_index,
    serialize_index,
)
from hangard.errors import ArchiveError, DigestMismatchError
from hangard.stores.archive.zipio import EntryWriter, ZipEntry, ZipReader, ZipWriter
from hangard.stores.feed import coalesced, pipelined

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

__all__ = ["INDEX_LIMIT", "Archive", "ArchiveSet", "rfc3339"]

#: The top index.json is read whole; past this it is refused.
INDEX_LIMIT = 64 << 20
_CHUNK = 1 << 20


def rfc3339(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as the index's ``time``, in UTC."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _exists(path: Path) -> bool:
    """A finished archive: the file, or the first part of a split one
    (anything else at the name, a directory, fails when opened)."""
    return path.exists() or path.with_name(path.name + ".001").exists()


def _partial_exists(path: Path) -> bool:
    """An interrupted write: ``FILE.zip.partial`` or ``FILE.zip.001.partial``."""
    return any(path.with_name(path.name + s).exists() for s in (".partial", ".001.partial"))


class Archive:
    """A Hangar zip archive for one run. Blocking zip work runs in threads;
    one entry is written at a time (an asyncio lock)."""

    def __init__(self, path: Path, *, part_size: int | None = None) -> None:
        self.path = path
        self.part_size = part_size
        self._reader: ZipReader | None = None
        self._writer: ZipWriter | None = None
        self._index: ArchiveIndex | None = None
        self._lock = asyncio.Lock()
        self.slot = asyncio.Lock()
        """One blob transfer at a time into this archive (see
        :class:`~hangard.stores.base.SerialWrites`); not :attr:`_lock`,
        which each entry write takes inside it."""
        self._state = threading.RLock()  # opening and switching run in threads
        self._changed = False
        self.base_layers: frozenset[str] = frozenset()
        """A delta's base layers: counted as present, so not written."""

    @property
    def name(self) -> str:
        return f"hangar-archive:{self.path}"

    def __str__(self) -> str:
        return self.name

    @property
    def exists(self) -> bool:
        """There is a file: a finished archive, or a partial one."""
        return _exists(self.path) or _partial_exists(self.path)

    @property
    def writing(self) -> bool:
        """Written to in this run (a partial file is open)."""
        return self._writer is not None

    # ------------------------------------------------------------- opening
    def _open_read(self) -> ArchiveIndex:
        """The index, opening the file on first use: a finished archive
        through a reader, an interrupted one (only its partial left) resumed
        at once, so what it already holds counts as present."""
        with self._state, _os_errors(self.path):
            return self._open_read_locked()

    def _open_read_locked(self) -> ArchiveIndex:
        if self._index is not None:
            return self._index
        if not _exists(self.path):
            if _partial_exists(self.path):
                return self._resume(finished=False)
            self._index = ArchiveIndex()
            return self._index
        reader = ZipReader.open(self.path)
        try:
            if INDEX_NAME not in reader.entries:
                raise ArchiveError(f"{reader.where}: no {INDEX_NAME}: not a Hangar archive")
            raw = reader.read(INDEX_NAME, limit=INDEX_LIMIT)
            self._index = parse_index(raw, where=reader.where)
        except BaseException:
            reader.close()
            raise
        self._reader = reader
        return self._index

    def _resume(self, *, finished: bool) -> ArchiveIndex:
        """Open the writer: append to a finished archive, or resume the
        partial one (whose last index.json, left by an interrupted append,
        is the index to keep)."""
        writer = ZipWriter.open(self.path, append=finished, part_size=self.part_size)
        index = self._index or ArchiveIndex()
        if not finished and INDEX_NAME in writer.entries:
            try:
                raw = writer.read(INDEX_NAME, limit=INDEX_LIMIT)
                index = parse_index(raw, where=writer.where)
            except BaseException:
                writer.close()
                raise
        self._index, self._writer = index, writer
        return index

    def _open_write(self) -> ZipWriter:
        with self._state, _os_errors(self.path):
            return self._open_write_locked()

    def _open_write_locked(self) -> ZipWriter:
        self._open_read_locked()
        if self._writer is None:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            self._resume(finished=True)
        assert self._writer is not None
        return self._writer

    def _backend(self) -> ZipReader | ZipWriter | None:
        self._open_read()
        return self._writer or self._reader

    # ------------------------------------------------------------- reading
    async def index(self) -> ArchiveIndex:
        """The index as of now: the file's, with this run's entries."""
        return await asyncio.to_thread(self._open_read)

    async def entry(self, name: str) -> ZipEntry | None:
        """The complete zip entry ``name``, or ``None``."""
        backend = await asyncio.to_thread(self._backend)
        return None if backend is None else backend.entries.get(name)

    async def read(self, name: str, *, limit: int) -> bytes:
        """A small entry whole (CRC-checked); past ``limit`` it is refused."""
        backend = await asyncio.to_thread(self._backend)
        if backend is None:
            raise ArchiveError(f"{self.path}: no entry {name} (the archive does not exist)")
        return await asyncio.to_thread(backend.read, name, limit=limit)

    async def chunks(self, name: str, *, hasher: Hash | None = None) -> AsyncIterator[bytes]:
        """An entry's bytes as they come (CRC-checked at the end), each
        chunk read, CRC-ed and (into ``hasher``) hashed in one thread call."""
        backend = await asyncio.to_thread(self._backend)
        if backend is None:
            raise ArchiveError(f"{self.path}: no entry {name} (the archive does not exist)")
        stream: Iterator[bytes] = await asyncio.to_thread(backend.stream, name, _CHUNK)
        while (chunk := await asyncio.to_thread(_take, stream, hasher)) is not None:
            yield chunk

    # ------------------------------------------------------------- writing
    async def write(
        self,
        name: str,
        size: int | None,
        body: AsyncIterable[bytes] | bytes,
        *,
        digest: str | None = None,
        what: str | None = None,
    ) -> bool:
        """Write the entry ``name`` from ``body``, refusing bytes that do not
        hash to ``digest`` (:class:`DigestMismatchError` naming ``what``);
        ``False`` when it was already there (``body`` is then not read).
        The lock is taken before the body is read.

        A streamed body is gathered into pieces of about a MiB and read
        ahead (a few MiB) while each piece is hashed, CRC-ed and written in
        one thread call: hashlib and zlib let go of the GIL, so receiving
        goes on meanwhile."""
        async with self._lock:
            writer = await asyncio.to_thread(self._open_write)
            if name in writer.entries:
                return False
            hasher = hashlib.new(digest.partition(":")[0]) if digest else None
            if isinstance(body, bytes):
                entry = await asyncio.to_thread(_write_whole, writer, name, size, body, hasher)
            else:
                entry = writer.begin(name, size)
                try:
                    async for piece in pipelined(coalesced(body)):
                        await asyncio.to_thread(_put, entry, hasher, piece)
                except BaseException:
                    await asyncio.to_thread(entry.abort)
                    raise
            try:
                _check(hasher, digest, what or f"{name} in {self.path}")
                await asyncio.to_thread(entry.finish)
            except BaseException:
                await asyncio.to_thread(entry.abort)
                raise
            self._changed = True
            return True

    async def record(self, entry: ListEntry) -> None:
        """Add ``entry`` to the index (replacing the same source and tag);
        it reaches the file at :meth:`commit`."""
        async with self._lock:
            await asyncio.to_thread(self._open_write)
            index = self._index or ArchiveIndex()
            self._index = index.with_entry(entry)
            self._changed = True

    async def set_base(self, base: BaseRef | None) -> None:
        """Record (or, with ``None``, clear) the archive a delta archive
        needs (``hangardBase``); it reaches the file at :meth:`commit`."""
        async with self._lock:
            await asyncio.to_thread(self._open_write)
            self._index = replace(self._index or ArchiveIndex(), base=base)
            self._changed = True

    async def commit(self, *, moment: datetime | None = None) -> bool:
        """Write the top index.json and the central directory, and give the
        archive its final name; ``False`` when nothing was written."""
        async with self._lock:
            writer, index = self._writer, self._index
            if writer is None or index is None or not self._changed:
                return False
            raw = serialize_index(index, time=rfc3339(moment))

            def finish() -> None:
                writer.drop(INDEX_NAME)
                entry = writer.begin(INDEX_NAME, len(raw))
                entry.write(raw)
                entry.finish()
                writer.commit()

            await asyncio.to_thread(finish)
            self._writer, self._index, self._changed = None, None, False
            return True

    async def close(self) -> None:
        """Let go of the file; an uncommitted partial stays, for a resume."""
        async with self._lock:
            for handle in (self._reader, self._writer):
                if handle is not None:
                    await asyncio.to_thread(handle.close)
            self._reader = self._writer = None
            self._index, self._changed = None, False


class ArchiveSet:
    """The archives a run opened, one :class:`Archive` per file."""

    def __init__(self, *, part_size: int | None = None) -> None:
        self.part_size = part_size
        self._open: dict[Path, Archive] = {}

    def get(self, path: str | Path) -> Archive:
        """The run's :class:`Archive` for ``path`` (one per resolved path)."""
        key = Path(path).absolute()
        found = self._open.get(key)
        if found is None:
            found = self._open[key] = Archive(Path(path), part_size=self.part_size)
        return found

    def __iter__(self) -> Iterator[Archive]:
        return iter(list(self._open.values()))

    async def commit(self, *, moment: datetime | None = None) -> list[Archive]:
        """Commit every archive written to; the ones committed."""
        return [a for a in self if await a.commit(moment=moment)]

    async def close(self) -> None:
        for archive in self:
            await archive.close()


def _take(stream: Iterator[bytes], hasher: Hash | None) -> bytes | None:
    chunk = next(stream, None)
    if chunk is not None and hasher is not None:
        hasher.update(chunk)
    return chunk


def _put(entry: EntryWriter, hasher: Hash | None, piece: bytes) -> None:
    if hasher is not None:
        hasher.update(piece)
    entry.write(piece)


def _write_whole(
    writer: ZipWriter, name: str, size: int | None, body: bytes, hasher: Hash | None
) -> EntryWriter:
    """Begin ``name`` and write all of ``body`` (a small entry: one thread call)."""
    entry = writer.begin(name, size)
    try:
        _put(entry, hasher, body)
    except BaseException:
        entry.abort()
        raise
    return entry


def _check(hasher: Hash | None, digest: str | None, what: str) -> None:
    if hasher is None or digest is None:
        return
    actual = f"{digest.partition(':')[0]}:{hasher.hexdigest()}"
    if actual != digest:
        raise DigestMismatchError(digest, actual, what=what)


@contextlib.contextmanager
def _os_errors(path: Path) -> Iterator[None]:
    """An archive the system will not open (a directory at its name, no
    permission, a full disk) is an :class:`ArchiveError` naming it."""
    try:
        yield
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot use the archive ({exc.strerror or exc})") from exc
