"""``hangard archive verify``: every blob's sha256 and every image complete,
as Hangar's ``save validate`` checks, streaming each entry once (memory
stays flat whatever the archive's size).

A delta archive (``hangardBase``) may lack blobs its base holds: with the
base given, they are looked up there; without it, they are reported as
needing the base.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hangard.core.archive import (
    INDEX_NAME,
    ArchiveIndex,
    ListEntry,
    layout_names,
    parse_index,
    share_name,
)
from hangard.errors import ArchiveError
from hangard.stores.archive.opened import INDEX_LIMIT
from hangard.stores.archive.zipio import ZipReader

__all__ = ["VerifyReport", "read_index", "verify_archive"]

SHARE_PREFIX = share_name("sha256:")
_CHUNK = 1 << 20


@dataclass
class VerifyReport:
    """What verifying found: counts, and one line per problem, each naming
    the blob and the images that need it."""

    path: Path
    images: int = 0
    blobs: int = 0
    bytes_checked: int = 0
    problems: list[str] = field(default_factory=list)
    base_blobs: int = 0
    """Blobs found in the base (for a delta)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def read_index(reader: ZipReader) -> ArchiveIndex:
    if INDEX_NAME not in reader.entries:
        raise ArchiveError(f"{reader.where}: no {INDEX_NAME}: not a Hangar archive")
    return parse_index(reader.read(INDEX_NAME, limit=INDEX_LIMIT), where=reader.where)


def _users(index: ArchiveIndex) -> dict[str, list[str]]:
    """Which images need each blob."""
    found: dict[str, list[str]] = {}
    for entry in index.entries:
        for digest in entry.blobs:
            found.setdefault(digest, []).append(entry.name)
    return found


def _check_blob(reader: ZipReader, name: str, digest: str) -> tuple[int, str | None]:
    """Bytes read, and why the blob is bad (``None``: it is sound)."""
    hasher = hashlib.sha256()
    size = 0
    try:
        for chunk in reader.stream(name, _CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    except ArchiveError as exc:
        return size, exc.message
    actual = f"sha256:{hasher.hexdigest()}"
    if actual != digest:
        return size, f"its content hashes to {actual}"
    return size, None


def _missing(entry: ListEntry, present: Callable[[str], bool], names: set[str]) -> list[str]:
    problems = [
        f"image {entry.name}: blob {digest} is not in the archive"
        for digest in entry.blobs
        if not present(digest)
    ]
    for spec in entry.images:  # Hangar's CopyImage needs them for every manifest
        lacking = [n for n in layout_names(spec.digest) if n not in names]
        if lacking:
            problems.append(f"image {entry.name}: {', '.join(lacking)} missing")
    return problems


def verify_archive(
    path: Path,
    *,
    base: Path | None = None,
    on_blob: Callable[[str, int], None] | None = None,
) -> VerifyReport:
    """Check ``path`` (a file or the first part); blocking."""
    report = VerifyReport(path)
    with ZipReader.open(path) as reader:
        index = read_index(reader)
        users = _users(index)
        report.images = len(index.entries)
        held: set[str] = set()
        for name in reader.entries:
            if not name.startswith(SHARE_PREFIX):
                continue
            digest = "sha256:" + name.removeprefix(SHARE_PREFIX)
            size, bad = _check_blob(reader, name, digest)
            report.blobs += 1
            report.bytes_checked += size
            if on_blob is not None:
                on_blob(digest, size)
            if bad is None:
                held.add(digest)
                continue
            needed = ", ".join(users.get(digest, [])) or "no image"
            report.problems.append(f"blob {digest} is damaged: {bad} (needed by {needed})")
        in_base = _base_blobs(index, base, path)
        report.base_blobs = len(in_base & set(users))
        names = set(reader.entries)
        for entry in index.entries:
            report.problems += _missing(
                entry, lambda d: d in held or d in in_base or _damaged(d, report), names
            )
    return report


def _damaged(digest: str, report: VerifyReport) -> bool:
    """A damaged blob is reported once, as damaged, not again as missing."""
    return any(p.startswith(f"blob {digest} is damaged") for p in report.problems)


def _base_blobs(index: ArchiveIndex, base: Path | None, path: Path) -> set[str]:
    if index.base is None:
        return set()
    if base is None:
        raise ArchiveError(
            f"{path} is a delta archive: it needs {index.base.name}; "
            f"give it with --base {index.base.name}"
        )
    with ZipReader.open(base) as reader:
        raw = reader.read(INDEX_NAME, limit=INDEX_LIMIT) if INDEX_NAME in reader.entries else b""
        if hashlib.sha256(raw).hexdigest() != index.base.index_sha256:
            raise ArchiveError(
                f"{base} is not the base {path} was made against "
                f"(its index.json is not sha256:{index.base.index_sha256})"
            )
        held = {
            "sha256:" + n.removeprefix(SHARE_PREFIX)
            for n in reader.entries
            if n.startswith(SHARE_PREFIX)
        }
    return held
