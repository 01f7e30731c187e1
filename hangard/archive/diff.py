"""``hangard archive diff --against REGISTRY[/PREFIX]``: what the target
lacks, as Hangar's ``load validate``: for each archived image, whether its
tag is missing there, has another digest, or is in place (one manifest
``HEAD`` per image; nothing is written)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hangard.archive.destinations import destination_for
from hangard.archive.listing import list_archive
from hangard.archive.verify import read_index
from hangard.core.archive import ArchiveIndex
from hangard.core.desired import Target
from hangard.core.reference import ImageReference, parse_reference
from hangard.errors import HangardError
from hangard.registry.client import RegistryClient
from hangard.stores.archive.zipio import ZipReader

__all__ = ["DiffRow", "Presence", "diff_archive"]


class Presence(StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    DIFFERENT = "different"
    UNKNOWN = "unknown"
    """Kept for the JSON output's readers; no row has it any more."""
    ERROR = "error"


@dataclass(frozen=True)
class DiffRow:
    name: str
    destination: ImageReference
    presence: Presence
    archived: str
    found: str | None = None
    error: str | None = None
    note: str | None = None
    """For a multi-platform entry Hangar made (no original index kept):
    which platform manifests the target lacks, and that the index digest is
    rebuilt at load."""


def _entries(path: Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(source, tag, digest, platform manifests)`` of each image, the
    digest ``""`` for a Hangar multi-platform entry. Blocking."""
    return [
        (row.source, row.tag, row.digest, tuple(s.digest for s in entry.images))
        for row, entry in zip(list_archive(path).images, _index(path).entries, strict=True)
    ]


def _index(path: Path) -> ArchiveIndex:
    with ZipReader.open(path) as reader:
        return read_index(reader)


async def _children(
    client: RegistryClient, name: str, dest: ImageReference, archived: tuple[str, ...]
) -> DiffRow:
    """A Hangar multi-platform entry whose tag exists: each platform
    manifest is at the target or not; the index digest is rebuilt."""
    found = await asyncio.gather(*(client.head_manifest(dest.with_digest(d)) for d in archived))
    lacking = [d for d, head in zip(archived, found, strict=True) if head is None]
    rebuilt = "the index digest is rebuilt at load (a Hangar multi-platform entry)"
    if lacking:
        note = f"lacks {len(lacking)} of {len(archived)} platform manifests: {', '.join(lacking)}"
        return DiffRow(name, dest, Presence.DIFFERENT, "", note=f"{note}; {rebuilt}")
    note = f"all {len(archived)} platform manifests present; {rebuilt}"
    return DiffRow(name, dest, Presence.PRESENT, "", note=note)


async def diff_archive(
    client: RegistryClient, path: Path, target: Target, *, project: str | None = None
) -> list[DiffRow]:
    rows = await asyncio.to_thread(_entries, path)

    async def one(source: str, tag: str, archived: str, children: tuple[str, ...]) -> DiffRow:
        name = parse_reference(f"{source}:{tag}")
        dest = destination_for(name, target, project=project)
        try:
            head = await client.head_manifest(dest)
            if head is not None and not archived:
                return await _children(client, str(name), dest, children)
        except HangardError as exc:
            return DiffRow(str(name), dest, Presence.ERROR, archived, error=str(exc))
        if head is None:
            return DiffRow(str(name), dest, Presence.MISSING, archived)
        same = head.digest == archived
        presence = Presence.PRESENT if same else Presence.DIFFERENT
        return DiffRow(str(name), dest, presence, archived, head.digest)

    return list(await asyncio.gather(*(one(*row) for row in rows)))
