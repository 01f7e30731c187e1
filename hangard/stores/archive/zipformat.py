"""The zip records hangard writes and reads: local file headers, central
directory entries and the end records (ZIP64 included), packed and parsed
with :mod:`struct`, and the rule for a safe entry name.

Entries are *stored* (method 0), names are UTF-8 (flag bit 11 when not
ASCII) and every timestamp is the DOS epoch, 1980-01-01 00:00: the same
entries always give the same bytes, so a split archive's parts
concatenate to the unsplit one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CENTRAL_SIG",
    "END",
    "END64",
    "END64_SIG",
    "END_SIG",
    "LOCAL_HEADER",
    "LOCAL_SIG",
    "LOCATOR",
    "LOCATOR_SIG",
    "UNPATCHED",
    "ZIP64_COUNT_LIMIT",
    "ZIP64_LIMIT",
    "LocalHeader",
    "ZipEntry",
    "central_entry",
    "end_records",
    "local_header",
    "name_problem",
    "parse_local_header",
]

ZIP64_LIMIT = 0xFFFF_FFFF
"""Sizes and offsets at or past this need ZIP64 records (4 GiB). Read at
call time through the module, so a test can lower it."""
ZIP64_COUNT_LIMIT = 0xFFFF
"""Entry counts at or past this need the ZIP64 end records."""
UNPATCHED = 0xFFFF_FFFF_FFFF_FFFF
"""The ZIP64 sizes of a local header whose entry is still being written:
larger than any file, so a resume never takes it for a complete entry."""

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
END_SIG = b"PK\x05\x06"
END64_SIG = b"PK\x06\x06"
LOCATOR_SIG = b"PK\x06\x07"

LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
END = struct.Struct("<4sHHHHIIH")
"""The end of central directory record (its size: field 5)."""
END64 = struct.Struct("<4sQHHIIQQQQ")
"""The ZIP64 end of central directory record (its size: field 8)."""
LOCATOR = struct.Struct("<4sIQI")
"""The ZIP64 end record's locator (its offset: field 2)."""
_ZIP64_TAG = 0x0001
_UTF8 = 0x0800
_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
_VERSION, _VERSION64 = 20, 45
_MADE_BY_UNIX = 3 << 8
_REGULAR_FILE = 0o100644 << 16


@dataclass(frozen=True)
class ZipEntry:
    """One complete entry: its name, where its local header starts in the
    logical stream (all parts as one), its size and its CRC-32."""

    name: str
    offset: int
    size: int
    crc: int


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an entry name, or ``None`` when it can.

    An entry name is a relative path of non-empty components, none of them
    ``.`` or ``..``, with ``/`` as the separator: stores map names to paths,
    so nothing may point outside the archive.
    """
    if not name:
        return "an empty name"
    if "\\" in name or "\x00" in name:
        return "a backslash or NUL in the name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "an empty, '.' or '..' path component"
    if len(name.encode()) > 0xFFFF:
        return "a name longer than 65535 bytes"
    return None


def _flags(name: bytes) -> int:
    """The UTF-8 flag for a name that is not plain ASCII (as Go and Python
    set it; an ASCII name reads the same either way)."""
    return 0 if name.isascii() else _UTF8


def local_header(name: bytes, size: int | None, crc: int = 0) -> bytes:
    """The local header of a stored entry of ``size`` bytes (``None``:
    not known yet). A ZIP64 extra carries the sizes when the size is
    unknown or past :data:`ZIP64_LIMIT`; its sizes are :data:`UNPATCHED`
    until the entry is finished."""
    if size is not None and size < ZIP64_LIMIT:
        head = LOCAL_HEADER.pack(
            LOCAL_SIG, _VERSION, _flags(name), 0, 0, _DOS_DATE, crc, size, size, len(name), 0
        )
        return head + name
    wide = UNPATCHED if size is None else size
    extra = struct.pack("<HHQQ", _ZIP64_TAG, 16, wide, wide)
    head = LOCAL_HEADER.pack(
        LOCAL_SIG,
        _VERSION64,
        _flags(name),
        0,
        0,
        _DOS_DATE,
        crc,
        *(0xFFFF_FFFF,) * 2,
        len(name),
        20,
    )
    return head + name + extra


@dataclass(frozen=True)
class LocalHeader:
    """A parsed local header: what a resume needs to judge an entry."""

    flags: int
    method: int
    crc: int
    size: int
    """The stored size (ZIP64 extra included); :data:`UNPATCHED` while written."""
    name: bytes
    length: int
    """The header's length: the entry's data starts this far past it."""


def parse_local_header(head: bytes, tail: bytes) -> LocalHeader | None:
    """``head`` (:data:`LOCAL_HEADER` bytes) and ``tail`` (the name and
    extra that follow) as a header, or ``None`` when they are not one."""
    if len(head) < LOCAL_HEADER.size or head[:4] != LOCAL_SIG:
        return None
    fields = LOCAL_HEADER.unpack(head[: LOCAL_HEADER.size])
    flags, method, crc, csize, size, name_len, extra_len = (
        fields[i] for i in (2, 3, 6, 7, 8, 9, 10)
    )
    if len(tail) < name_len + extra_len:
        return None
    name, extra = tail[:name_len], tail[name_len : name_len + extra_len]
    if size == 0xFFFF_FFFF or csize == 0xFFFF_FFFF:
        wide = _zip64_sizes(extra)
        if wide is None:
            return None
        size, csize = wide
    if size != csize:
        return None
    length = LOCAL_HEADER.size + name_len + extra_len
    return LocalHeader(flags, method, crc, size, name, length)


def _zip64_sizes(extra: bytes) -> tuple[int, int] | None:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == _ZIP64_TAG and length >= 16 and at + 4 + length <= len(extra):
            size, csize = struct.unpack_from("<QQ", extra, at + 4)
            return size, csize
        at += 4 + length
    return None


def central_entry(entry: ZipEntry) -> bytes:
    """The central directory record of ``entry``, with a ZIP64 extra for
    the values that need one."""
    wide: list[int] = []
    size32 = offset32 = 0xFFFF_FFFF
    if entry.size >= ZIP64_LIMIT:
        wide += [entry.size, entry.size]
    else:
        size32 = entry.size
    if entry.offset >= ZIP64_LIMIT:
        wide.append(entry.offset)
    else:
        offset32 = entry.offset
    extra = struct.pack(f"<HH{len(wide)}Q", _ZIP64_TAG, 8 * len(wide), *wide) if wide else b""
    version = _VERSION64 if wide else _VERSION
    name = entry.name.encode()
    head = _CENTRAL.pack(
        CENTRAL_SIG, _MADE_BY_UNIX | version, version, _flags(name), 0, 0, _DOS_DATE, entry.crc,
        size32, size32, len(name), len(extra), 0, 0, 0, _REGULAR_FILE, offset32,
    )  # fmt: skip
    return head + name + extra


def end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    """The end of central directory record for ``count`` entries whose
    directory of ``cd_size`` bytes starts at ``cd_offset``, preceded by the
    ZIP64 end record and its locator when a value does not fit."""
    wide = count >= ZIP64_COUNT_LIMIT or cd_offset >= ZIP64_LIMIT or cd_size >= ZIP64_LIMIT
    records = b""
    if wide:
        end64_offset = cd_offset + cd_size
        records += END64.pack(
            END64_SIG, END64.size - 12, _MADE_BY_UNIX | _VERSION64, _VERSION64,
            0, 0, count, count, cd_size, cd_offset,
        )  # fmt: skip
        records += LOCATOR.pack(LOCATOR_SIG, 0, end64_offset, 1)
    count16 = count if count < ZIP64_COUNT_LIMIT else 0xFFFF
    size32 = cd_size if cd_size < ZIP64_LIMIT else 0xFFFF_FFFF
    offset32 = cd_offset if cd_offset < ZIP64_LIMIT else 0xFFFF_FFFF
    return records + END.pack(END_SIG, 0, 0, count16, count16, size32, offset32, 0)
