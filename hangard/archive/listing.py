"""``hangard archive ls``: what an archive holds, one row per image, read
from its index and central directory (no blob is read)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from hangard.archive.verify import read_index
from hangard.core.archive import ArchiveIndex, ListEntry, share_name
from hangard.stores.archive.zipio import ZipEntry, ZipReader

__all__ = ["ArchiveListing", "ImageRow", "list_archive"]


@dataclass(frozen=True)
class ImageRow:
    source: str
    tag: str
    digest: str
    """The digest a load gives the tag: the original index's, or the single
    manifest's; for a multi-platform image Hangar made, ``""`` (rebuilt)."""
    platforms: tuple[str, ...]
    manifests: int
    size: int
    """Bytes of the blobs the image needs (shared ones counted in each)."""

    @property
    def name(self) -> str:
        return f"{self.source}:{self.tag}"


@dataclass(frozen=True)
class ArchiveListing:
    path: Path
    version: str
    time: str
    base: str | None
    images: tuple[ImageRow, ...]
    size: int
    """The archive's bytes (all parts)."""

    def as_dict(self) -> dict[str, object]:
        doc = asdict(self)
        doc["path"] = str(self.path)
        return doc


def _row(entry: ListEntry, entries: dict[str, ZipEntry]) -> ImageRow:
    if entry.index is not None:
        digest = entry.index.digest
    elif len(entry.images) == 1:
        digest = entry.images[0].digest
    else:
        digest = ""
    platforms = tuple(
        str(spec.platform) for spec in entry.images if spec.attests is None and spec.os
    )
    size = sum(e.size for d in entry.blobs if (e := entries.get(share_name(d))) is not None)
    return ImageRow(entry.source, entry.tag, digest, platforms, len(entry.images), size)


def listing(path: Path, index: ArchiveIndex, entries: dict[str, ZipEntry]) -> ArchiveListing:
    total = sum(e.size for e in entries.values())
    base = index.base.name if index.base is not None else None
    rows = tuple(_row(e, entries) for e in index.entries)
    return ArchiveListing(path, index.version, index.time, base, rows, total)


def list_archive(path: Path) -> ArchiveListing:
    """Blocking: read ``path``'s index and directory."""
    with ZipReader.open(path) as reader:
        return listing(path, read_index(reader), dict(reader.entries))
