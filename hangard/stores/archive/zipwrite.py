"""Writing a zip archive: entries streamed one at a time into
``FILE.zip.partial`` (or ``FILE.zip.001.partial``, … when split), each CRC-32
computed on the fly and its local header patched in place when it is done
(no data descriptor); the central directory written and the partial
renamed to its final name at :meth:`ZipWriter.commit`.

An existing partial is resumed: its complete entries are kept (see
:mod:`~hangard.stores.archive.zipresume`). ``append=True`` continues a
finished archive, renamed to its partial first, so nothing is ever changed
under the final name.

One entry is written at a time and the writer is not thread-safe, except
that complete entries can be read back (:meth:`ZipWriter.stream`) from
other threads while an entry is written.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType

from hangard.errors import ArchiveError
from hangard.stores.archive import zipformat as fmt
from hangard.stores.archive.zipformat import ZipEntry
from hangard.stores.archive.zipparts import (
    PartedFile,
    find_parts,
    fsync_dir,
    numbered,
    part_path,
)
from hangard.stores.archive.zipread import read_directory, read_entry, stream_entry
from hangard.stores.archive.zipresume import append_patches, patch_headers, scan_entries

__all__ = ["EntryWriter", "ZipWriter"]

_PARTIAL = ".partial"
_CD_CHUNK = 1 << 20


class EntryWriter:
    """The entry being written; made by :meth:`ZipWriter.begin`."""

    def __init__(self, owner: ZipWriter, name: str, size: int | None, offset: int) -> None:
        self._owner = owner
        self.name = name
        self.size = size
        self.offset = offset
        self._header = fmt.local_header(name.encode(), size)
        self._wide = len(self._header) > fmt.LOCAL_HEADER.size + len(name.encode())
        owner._stream.pwrite(self._header, offset)
        self._pos = offset + len(self._header)
        self._crc = 0
        self.written = 0

    def write(self, chunk: bytes | memoryview) -> None:
        """Append ``chunk`` to the entry's data: written through, not kept."""
        self._owner._check_open(self)
        if self.size is not None and self.written + len(chunk) > self.size:
            raise ValueError(f"entry {self.name}: more than the declared {self.size} bytes")
        self._owner._stream.pwrite(chunk, self._pos)
        self._crc = zlib.crc32(chunk, self._crc)
        self._pos += len(chunk)
        self.written += len(chunk)

    def finish(self) -> ZipEntry:
        """Patch the local header with the CRC (and sizes); the entry is
        then complete: a resume keeps it and the central directory lists it."""
        self._owner._check_open(self)
        if self.size is not None and self.written != self.size:
            self.abort()
            raise ValueError(f"entry {self.name}: {self.written} bytes, declared {self.size}")
        stream = self._owner._stream
        stream.pwrite(struct.pack("<I", self._crc), self.offset + 14)
        if self._wide:  # the sizes last: until they are there, the entry is unfinished
            sizes = struct.pack("<QQ", self.written, self.written)
            stream.pwrite(sizes, self.offset + len(self._header) - 16)
        entry = ZipEntry(self.name, self.offset, self.written, self._crc)
        self._owner._finished(entry, self._pos)
        return entry

    def abort(self) -> None:
        """Drop this entry: the stream is cut back to where it started.
        Nothing happens once it is finished or aborted (so a cleanup
        handler can call it whatever happened)."""
        if self._owner._open is self:
            self._owner._stream.truncate(self.offset)
            self._owner._open = None


class ZipWriter:
    """An archive being written; see the module docstring."""

    def __init__(self, final: Path, stream: PartedFile, entries: list[ZipEntry], end: int) -> None:
        self.final = final
        self._stream = stream
        self._end = end
        self._entries: dict[str, ZipEntry] = {}
        for entry in entries:  # the last of a name wins, in its place
            self._entries.pop(entry.name, None)
            self._entries[entry.name] = entry
        self._open: EntryWriter | None = None
        self.recovered: list[ZipEntry] = list(entries)
        """The complete entries found at open, in file order, a name
        possibly more than once (an interrupted append's old and new
        ``index.json``)."""

    @property
    def entries(self) -> Mapping[str, ZipEntry]:
        """The complete entries so far, recovered ones included, by name."""
        return MappingProxyType(self._entries)

    @property
    def where(self) -> str:
        return str(self._stream.paths[0]) if self._stream.paths else str(self.final)

    @classmethod
    def open(cls, final: Path, *, append: bool = False, part_size: int | None = None) -> ZipWriter:
        """Start, resume or (``append``) continue the archive ``final``;
        ``part_size`` splits it into parts of at most that many bytes."""
        if part_size is not None and part_size < 1:
            raise ValueError(f"part size must be positive, not {part_size}")
        _check_layout(final, part_size)
        partials = _partials(final, part_size)
        if not partials and append and _finals(final, part_size):
            partials = _rename_to_partials(final, part_size)
        if not partials:
            first = final.with_name(final.name + _PARTIAL) if part_size is None else None
            partials = [first or part_path(final, 1, _PARTIAL)]
        stream = PartedFile(partials, part_size, next_path=lambda n: part_path(final, n, _PARTIAL))
        try:
            entries, end = _recover(stream, str(partials[0]))
            stream.truncate(end)
        except BaseException:
            stream.close()
            raise
        return cls(final, stream, entries, end)

    def begin(self, name: str, size: int | None) -> EntryWriter:
        """Start the entry ``name`` of ``size`` bytes (``None``: unknown)."""
        if self._open is not None:
            raise ValueError(f"entry {self._open.name} is still being written")
        problem = fmt.name_problem(name)
        if problem:
            raise ArchiveError(f"{self.where}: entry name {name!r} is refused: {problem}")
        if name in self._entries:
            raise ValueError(f"entry {name} is already in the archive; drop it first")
        self._open = EntryWriter(self, name, size, self._end)
        return self._open

    def drop(self, name: str) -> None:
        """Leave ``name`` out of the central directory (its bytes stay, as
        dead space); nothing happens when there is no such entry."""
        self._entries.pop(name, None)

    def read(self, name: str, *, limit: int) -> bytes:
        return read_entry(self._stream, self._entry(name), self.where, limit)

    def stream(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        return stream_entry(self._stream, self._entry(name), self.where, chunk)

    def _entry(self, name: str) -> ZipEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise ArchiveError(f"{self.where}: no entry {name}") from None

    def commit(self) -> None:
        """Write the central directory and the end records, make it all
        durable and give the archive its final name (replacing what was
        there under that name, split or not)."""
        if self._open is not None:
            raise ValueError(f"entry {self._open.name} is still being written")
        pos, chunk, count = self._end, bytearray(), 0
        for entry in self._entries.values():
            chunk += fmt.central_entry(entry)
            count += 1
            if len(chunk) >= _CD_CHUNK:
                self._stream.pwrite(chunk, pos)
                pos, chunk = pos + len(chunk), bytearray()
        chunk += fmt.end_records(count, self._end, pos + len(chunk) - self._end)
        self._stream.pwrite(chunk, pos)
        self._stream.truncate(pos + len(chunk))
        self._stream.fsync()
        partials = list(self._stream.paths)
        self._stream.close()
        _publish(self.final, partials, split=self._stream.part_size is not None)

    def close(self) -> None:
        """Stop without committing: the partial stays, for a resume."""
        self._stream.close()

    def _check_open(self, entry: EntryWriter) -> None:
        if self._open is not entry:
            raise ValueError(f"entry {entry.name} is not being written")

    def _finished(self, entry: ZipEntry, end: int) -> None:
        self._entries[entry.name] = entry
        self._end = end
        self._open = None

    def __enter__(self) -> ZipWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _recover(stream: PartedFile, where: str) -> tuple[list[ZipEntry], int]:
    """The entries to keep from ``stream`` and where the next one goes.

    A partial that is a whole archive (an append just begun, or a commit
    cut short before its rename) keeps its central directory's entries;
    otherwise the local headers are scanned.
    """
    try:
        entries, cd_start = read_directory(stream, where)
        patches = append_patches(stream, entries, cd_start, where)
    except ArchiveError:
        return scan_entries(stream)
    patch_headers(stream, patches)
    return sorted(entries.values(), key=lambda e: e.offset), cd_start


def _check_layout(final: Path, part_size: int | None) -> None:
    """Refuse to resume a split partial unsplit, or the other way round."""
    other = _partials(final, None if part_size else 1)
    if other:
        how = "with the same part size" if part_size is None else "without a part size"
        raise ArchiveError(
            f"{other[0]}: an interrupted save of {final.name} was written "
            f"{'in parts' if part_size is None else 'whole'}; rerun it {how}, or remove it"
        )


def _partials(final: Path, part_size: int | None) -> list[Path]:
    if part_size is None:
        single = final.with_name(final.name + _PARTIAL)
        return [single] if single.exists() else []
    return find_parts(final, _PARTIAL)


def _finals(final: Path, part_size: int | None) -> list[Path]:
    """The finished archive to append to: its file, or its parts. One
    split the other way is refused (the commit would replace it)."""
    parts = find_parts(final)
    if part_size is None:
        if not final.exists() and parts:
            raise ArchiveError(f"{final} is split into parts: append to it with a part size")
        return [final] if final.exists() else []
    if not parts and final.exists():
        raise ArchiveError(f"{final} is not split into parts: append to it without a part size")
    return parts


def _rename_to_partials(final: Path, part_size: int | None) -> list[Path]:
    """Take a finished archive out from under its final name, once it is
    known that it can be appended to (or it stays as it is)."""
    finals = _finals(final, part_size)
    probe = PartedFile(finals, part_size)
    try:
        append_patches(probe, *read_directory(probe, str(finals[0])), str(finals[0]))
    finally:
        probe.close()
    partials = [path.with_name(path.name + _PARTIAL) for path in finals]
    for old, new in zip(finals, partials, strict=True):
        os.replace(old, new)
    fsync_dir(final.parent)
    return partials


def _publish(final: Path, partials: list[Path], *, split: bool) -> None:
    """Rename the partials to their final names, replacing any older
    archive there. The first part appears last, so a reader never opens
    a split archive whose later parts are not in place."""
    stale = numbered(final)
    if split:
        stale = [final, *stale]
    for path in stale:
        if path not in partials:
            path.unlink(missing_ok=True)
    for path in reversed(partials):
        os.replace(path, path.with_name(path.name[: -len(_PARTIAL)]))
    fsync_dir(final.parent)
