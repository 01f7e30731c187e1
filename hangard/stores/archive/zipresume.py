"""Recovering an interrupted write, and readying a finished archive for
more entries so that an interrupted append can be recovered too.

Recovery scans the local headers of a ``.partial`` stream from its start.
Each entry whose header is finished and whose data is all there with the
CRC-32 its header records is kept; the stream ends before the first one
that is not (half written, never patched, or garbage)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

from hangard.errors import ArchiveError
from hangard.stores.archive.zipformat import (
    LOCAL_HEADER,
    LOCAL_SIG,
    ZipEntry,
    name_problem,
    parse_local_header,
)
from hangard.stores.archive.zipparts import PartedFile

__all__ = ["Patch", "append_patches", "patch_headers", "scan_entries"]

_UTF8 = 0x0800
_DESCRIPTOR = 0x0008
_DESCRIPTOR_SIG = b"PK\x07\x08"
_CHUNK = 1 << 20


def scan_entries(stream: PartedFile) -> tuple[list[ZipEntry], int]:
    """Every complete entry from the start of ``stream``, in file order
    (a name may come more than once), and the offset where the first
    incomplete one, or the end of the stream, starts."""
    entries: list[ZipEntry] = []
    pos, end = 0, stream.size
    while pos < end:
        found = _complete_entry(stream, pos, end)
        if found is None:
            break
        entries.append(found[0])
        pos = found[1]
    return entries, pos


def _complete_entry(stream: PartedFile, pos: int, end: int) -> tuple[ZipEntry, int] | None:
    """The complete entry whose header starts at ``pos``, and where it ends."""
    head = stream.pread(LOCAL_HEADER.size, pos)
    if len(head) < LOCAL_HEADER.size:
        return None
    name_len, extra_len = LOCAL_HEADER.unpack(head)[9:11]
    header = parse_local_header(head, stream.pread(name_len + extra_len, pos + LOCAL_HEADER.size))
    if header is None or header.method != 0 or header.flags & ~_UTF8:
        return None
    start = pos + header.length
    if start + header.size > end:
        return None  # never finished (UNPATCHED sizes) or cut short
    try:
        name = header.name.decode()
    except UnicodeDecodeError:
        return None
    if name_problem(name) is not None or _crc(stream, start, header.size) != header.crc:
        return None
    end_of_data = start + header.size
    return ZipEntry(name, pos, header.size, header.crc), end_of_data + _descriptor_length(
        stream, end_of_data, header.size, header.crc
    )


def _descriptor_length(stream: PartedFile, pos: int, size: int, crc: int) -> int:
    """The length of the data descriptor at ``pos`` that another tool wrote
    after an entry (of ``size`` bytes with ``crc``), or 0 if none is there."""
    found = stream.pread(24, pos)
    if found[:4] != _DESCRIPTOR_SIG or len(found) < 16:
        return 0
    if struct.unpack_from("<III", found, 4) == (crc, size, size):
        return 16
    if len(found) == 24 and struct.unpack_from("<IQQ", found, 4) == (crc, size, size):
        return 24
    return 0


def _crc(stream: PartedFile, pos: int, size: int) -> int:
    crc = 0
    while size:
        data = stream.pread(min(_CHUNK, size), pos)
        if not data:
            return -1
        crc = zlib.crc32(data, crc)
        pos += len(data)
        size -= len(data)
    return crc


Patch = tuple[int, int, ZipEntry]
"""A local header to complete: its offset, its new flags and its entry."""


def append_patches(
    stream: PartedFile, entries: Mapping[str, ZipEntry], cd_start: int, where: str
) -> list[Patch]:
    """What makes the entries of a finished archive recoverable by
    :func:`scan_entries`: its local headers walked from the start to its
    central directory at ``cd_start``, and the ones that left their CRC and
    sizes to a data descriptor (as Go's ``archive/zip`` does).

    Refuses an archive whose entries do not follow one another up to the
    directory (which a scan needs), and one with a data descriptor for an
    entry past 4 GiB (whose header has no room for its size).
    """
    by_offset = {entry.offset: entry for entry in entries.values()}
    pos, patches = 0, []
    while pos < cd_start:
        head = stream.pread(LOCAL_HEADER.size, pos)
        if len(head) < LOCAL_HEADER.size or head[:4] != LOCAL_SIG:
            raise _not_contiguous(where, pos)
        fields = LOCAL_HEADER.unpack(head)
        flags, length = fields[2], LOCAL_HEADER.size + fields[9] + fields[10]
        if flags & _DESCRIPTOR:
            entry = by_offset.get(pos)
            if entry is None or entry.size >= 0xFFFF_FFFF:
                raise _not_contiguous(where, pos)
            patches.append((pos, flags & ~_DESCRIPTOR, entry))
            pos += length + entry.size
            pos += _descriptor_length(stream, pos, entry.size, entry.crc)
        else:
            tail = stream.pread(length - LOCAL_HEADER.size, pos + LOCAL_HEADER.size)
            header = parse_local_header(head, tail)
            if header is None:
                raise _not_contiguous(where, pos)
            pos += header.length + header.size
    if pos != cd_start:
        raise _not_contiguous(where, pos)
    return patches


def patch_headers(stream: PartedFile, patches: list[Patch]) -> None:
    """Write each patch's CRC and sizes into its local header, durably."""
    for offset, flags, entry in patches:
        stream.pwrite(struct.pack("<H", flags), offset + 6)
        stream.pwrite(struct.pack("<III", entry.crc, entry.size, entry.size), offset + 14)
    if patches:
        stream.fsync()


def _not_contiguous(where: str, pos: int) -> ArchiveError:
    return ArchiveError(
        f"{where}: cannot append: the entries do not follow one another (at offset {pos}); "
        "write a new archive from it instead (hangard archive merge)"
    )
