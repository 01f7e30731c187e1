"""Reading a finished zip archive: its central directory (parsed by the
standard library's :mod:`zipfile`, ZIP64 included) checked for what a
hostile archive could do, and entries streamed with bounded memory and
their CRC-32 checked. Nothing is extracted anywhere."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType

from hangard.errors import ArchiveError
from hangard.stores.archive.zipformat import (
    END,
    END64,
    END64_SIG,
    END_SIG,
    LOCAL_HEADER,
    LOCAL_SIG,
    LOCATOR,
    LOCATOR_SIG,
    ZipEntry,
    name_problem,
)
from hangard.stores.archive.zipparts import PartedFile, StreamView, find_parts, part_path

__all__ = ["MAX_DIRECTORY", "ZipReader", "read_directory", "read_entry", "stream_entry"]

_ENCRYPTED = 0x1
MAX_DIRECTORY = 16 << 20
"""The largest central directory read (16 MiB, some 160,000 entries): what
:mod:`zipfile` makes of it is held in memory."""
_UTF8 = 0x800


def stream_entry(
    stream: PartedFile, entry: ZipEntry, where: str, chunk: int = 1 << 20
) -> Iterator[bytes]:
    """The data of ``entry`` in chunks of at most ``chunk`` bytes; its CRC
    is checked after the last one (an :class:`ArchiveError` then)."""
    head = stream.pread(LOCAL_HEADER.size, entry.offset)
    if len(head) < LOCAL_HEADER.size or head[:4] != LOCAL_SIG:
        raise ArchiveError(f"{where}: entry {entry.name}: no local header at {entry.offset}")
    name_len, extra_len = struct.unpack_from("<HH", head, LOCAL_HEADER.size - 4)
    if stream.pread(name_len, entry.offset + LOCAL_HEADER.size) != entry.name.encode():
        raise ArchiveError(f"{where}: entry {entry.name}: its local header names another entry")
    pos = entry.offset + LOCAL_HEADER.size + name_len + extra_len
    left, crc, pending = entry.size, 0, b""
    while left:
        data = stream.pread(min(chunk, left), pos)
        if not data:
            raise ArchiveError(f"{where}: entry {entry.name} is truncated ({left} bytes missing)")
        crc = zlib.crc32(data, crc)
        pos += len(data)
        left -= len(data)
        if pending:
            yield pending
        pending = data  # the last chunk waits for the CRC check
    if crc != entry.crc:
        raise ArchiveError(
            f"{where}: entry {entry.name} is damaged: CRC-32 {crc:08x}, expected {entry.crc:08x}"
        )
    if pending:
        yield pending


def read_entry(stream: PartedFile, entry: ZipEntry, where: str, limit: int) -> bytes:
    """The whole of ``entry``, CRC-checked; refused before reading when it
    is larger than ``limit`` bytes."""
    if entry.size > limit:
        raise ArchiveError(
            f"{where}: entry {entry.name} is {entry.size} bytes, more than the {limit} allowed"
        )
    return b"".join(stream_entry(stream, entry, where))


def read_directory(stream: PartedFile, where: str) -> tuple[dict[str, ZipEntry], int]:
    """The entries of the central directory at the end of ``stream``, by
    name, and where the directory starts. Refuses what is not a plain
    stored archive with safe, unique names and entries inside the file."""
    declared = _directory_size(stream)
    if declared > MAX_DIRECTORY:
        raise ArchiveError(
            f"{where}: a central directory of {declared} bytes, more than the "
            f"{MAX_DIRECTORY} hangard reads (some {MAX_DIRECTORY // 100} entries)"
        )
    try:
        with zipfile.ZipFile(StreamView(stream)) as archive:
            infos, start = archive.infolist(), archive.start_dir
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        ValueError,
        EOFError,
        struct.error,
    ) as exc:
        raise ArchiveError(f"{where}: not a readable zip archive: {exc}") from exc
    entries: dict[str, ZipEntry] = {}
    for info in infos:
        if info.filename.endswith("/") and info.file_size == 0:
            continue  # a directory entry: nothing to read
        entry = _checked(info, where, start)
        if entry.name in entries:
            raise ArchiveError(f"{where}: entry {entry.name} appears twice in the directory")
        entries[entry.name] = entry
    return entries, int(start)


def _directory_size(stream: PartedFile) -> int:
    """The central directory's size as the end records declare it (0 when
    they cannot be found: :mod:`zipfile` then says what is wrong)."""
    size = stream.size
    tail_len = min(size, END.size + 0xFFFF)
    tail = stream.pread(tail_len, size - tail_len)
    at = tail.rfind(END_SIG)
    if at < 0 or at + END.size > len(tail):
        return 0
    declared: int = END.unpack_from(tail, at)[5]
    locator = tail[max(0, at - LOCATOR.size) : at]
    if len(locator) == LOCATOR.size and locator[:4] == LOCATOR_SIG:
        end64 = stream.pread(END64.size, LOCATOR.unpack(locator)[2])
        if len(end64) == END64.size and end64[:4] == END64_SIG:
            declared = max(declared, END64.unpack(end64)[8])
    return declared


def _checked(info: zipfile.ZipInfo, where: str, start: int) -> ZipEntry:
    name = info.filename
    problem = name_problem(name)
    if problem:
        raise ArchiveError(f"{where}: entry {name!r} is refused: {problem}")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ArchiveError(
            f"{where}: entry {name} is compressed (method {info.compress_type}); "
            "archives hold stored entries only"
        )
    if not (info.flag_bits & _UTF8 or name.isascii()):
        raise ArchiveError(f"{where}: entry {name!r} is refused: a name that is not UTF-8")
    if info.flag_bits & _ENCRYPTED:
        raise ArchiveError(f"{where}: entry {name} is encrypted")
    end = info.header_offset + LOCAL_HEADER.size + len(name.encode()) + info.file_size
    if info.compress_size != info.file_size or end > start:
        raise ArchiveError(
            f"{where}: entry {name} declares {info.file_size} bytes at offset "
            f"{info.header_offset}, past the end of the archive's data"
        )
    return ZipEntry(name, info.header_offset, info.file_size, info.CRC)


class ZipReader:
    """A finished archive, one file or parts, read through its central
    directory. Safe for concurrent :meth:`stream` calls from threads."""

    def __init__(self, stream: PartedFile, where: str) -> None:
        self._stream = stream
        self.where = where
        """The archive's name in messages (the file, or its first part)."""
        try:
            entries, _ = read_directory(stream, where)
        except BaseException:
            stream.close()
            raise
        self.entries: Mapping[str, ZipEntry] = MappingProxyType(entries)

    @classmethod
    def open(cls, path: Path) -> ZipReader:
        """The archive ``FILE.zip``, or the split one whose first part is
        ``path`` (``FILE.zip.001``, or ``FILE.zip`` when only parts exist)."""
        if path.name.endswith(".001"):
            final = path.with_name(path.name[: -len(".001")])
        elif path.is_file():
            return cls(PartedFile([path], None), str(path))
        else:
            final = path
        parts = find_parts(final)
        if not parts:
            raise _missing(path)
        part_size = parts[0].stat().st_size or None
        stream = PartedFile(parts, part_size)
        try:
            return cls(stream, str(parts[0]))
        except ArchiveError as exc:
            if part_size is not None and stream.size % part_size == 0:
                nxt = part_path(final, len(parts) + 1)
                raise ArchiveError(
                    f"{nxt}: part {len(parts) + 1} of {final} is missing, "
                    f"or the parts before it are damaged ({exc})"
                ) from exc
            raise

    def read(self, name: str, *, limit: int) -> bytes:
        return read_entry(self._stream, self._entry(name), self.where, limit)

    def stream(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        return stream_entry(self._stream, self._entry(name), self.where, chunk)

    def _entry(self, name: str) -> ZipEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise ArchiveError(f"{self.where}: no entry {name}") from None

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _missing(path: Path) -> ArchiveError:
    for partial in (
        path.with_name(f"{path.name}.partial"),
        path.with_name(f"{path.name}.001.partial"),
    ):
        if partial.exists():
            return ArchiveError(
                f"{path}: no such archive, but {partial.name} is there: an interrupted save; "
                "rerun it to resume"
            )
    return ArchiveError(f"{path}: no such archive")
