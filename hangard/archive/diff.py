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
from hangard.core.desired import Target
from hangard.core.reference import ImageReference, parse_reference
from hangard.errors import HangardError
from hangard.registry.client import RegistryClient

__all__ = ["DiffRow", "Presence", "diff_archive"]


class Presence(StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    DIFFERENT = "different"
    UNKNOWN = "unknown"
    """A multi-platform entry Hangar made: its rebuilt digest is not known
    until load, so a tag that exists is not compared."""
    ERROR = "error"


@dataclass(frozen=True)
class DiffRow:
    name: str
    destination: ImageReference
    presence: Presence
    archived: str
    found: str | None = None
    error: str | None = None


async def diff_archive(
    client: RegistryClient, path: Path, target: Target, *, project: str | None = None
) -> list[DiffRow]:
    rows = (await asyncio.to_thread(list_archive, path)).images

    async def one(source: str, tag: str, archived: str) -> DiffRow:
        name = parse_reference(f"{source}:{tag}")
        dest = destination_for(name, target, project=project)
        try:
            head = await client.head_manifest(dest)
        except HangardError as exc:
            return DiffRow(str(name), dest, Presence.ERROR, archived, error=str(exc))
        if head is None:
            return DiffRow(str(name), dest, Presence.MISSING, archived)
        if not archived:
            return DiffRow(str(name), dest, Presence.UNKNOWN, archived, head.digest)
        same = head.digest == archived
        presence = Presence.PRESENT if same else Presence.DIFFERENT
        return DiffRow(str(name), dest, presence, archived, head.digest)

    return list(await asyncio.gather(*(one(r.source, r.tag, r.digest) for r in rows)))
