"""Before a delta archive is loaded: every layer it leaves out must be at
the target already, or in its base archive (``--base OLD.zip``), from where
it is pushed first. When neither has one, the load fails before pushing
anything, naming the missing blobs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from hangard.archive.delta import check_base, lacking, read_base
from hangard.archive.destinations import LoadItem
from hangard.archive.verify import read_index
from hangard.copy import Copier
from hangard.copy.blobs import BlobStats
from hangard.core.archive import ArchiveIndex
from hangard.core.manifest import Descriptor
from hangard.core.reference import Repository, parse_reference
from hangard.errors import ArchiveError, InputError
from hangard.stores.archive.store import ArchiveStore
from hangard.stores.archive.zipio import ZipReader

__all__ = ["fill_from_base"]

_LAYER = "application/octet-stream"
_SHOWN = 5


def _read(path: Path) -> tuple[ArchiveIndex, set[str]]:
    with ZipReader.open(path) as reader:
        return read_index(reader), set(reader.entries)


async def _absent_at_target(
    copier: Copier, archive: Path, items: Sequence[LoadItem]
) -> list[tuple[Repository, str, str]] | None:
    """(target repository, blob, image) the delta lacks and the target too;
    ``None`` when ``archive`` is not a delta."""
    index, held = await asyncio.to_thread(_read, archive)
    if index.base is None:
        return None
    missing = lacking(index.entries, held)
    by_name = {parse_reference(e.name): e.name for e in index.entries}
    wanted = [
        (item.destination.repository, digest, name)
        for item in items
        if (name := by_name.get(item.name))
        for digest in missing.get(name, [])
    ]
    present = await asyncio.gather(
        *(copier.client.blob_exists(repo, digest) for repo, digest, _ in wanted)
    )
    return [w for w, found in zip(wanted, present, strict=True) if not found]


def _describe(absent: Sequence[tuple[Repository, str, str]]) -> str:
    shown = ", ".join(f"{digest} (of {image})" for _, digest, image in absent[:_SHOWN])
    more = f" and {len(absent) - _SHOWN} more" if len(absent) > _SHOWN else ""
    return shown + more


async def fill_from_base(
    copier: Copier, archive: Path, items: Sequence[LoadItem], base: Path | None
) -> None:
    absent = await _absent_at_target(copier, archive, items)
    if absent is None:
        if base is not None:
            raise InputError(f"{archive} is not a delta archive: it needs no --base")
        return
    if not absent:
        return
    index, _ = await asyncio.to_thread(_read, archive)
    assert index.base is not None
    if base is None:
        raise ArchiveError(
            f"{archive} is a delta of {index.base.name}, and the target lacks "
            f"{len(absent)} blobs it leaves out: {_describe(absent)}",
            remedy=f"give the base archive with --base {index.base.name}",
        )
    held = await asyncio.to_thread(read_base, base)
    check_base(index, held, archive)
    neither = [a for a in absent if a[1] not in held.sizes]
    if neither:
        raise ArchiveError(
            f"neither the target nor {base} holds {len(neither)} blobs {archive} needs: "
            f"{_describe(neither)}"
        )
    store = ArchiveStore(copier.archives.get(base))
    stats = BlobStats()
    for repo, digest in dict.fromkeys((r, d) for r, d, _ in absent):
        blob = Descriptor(_LAYER, digest, held.sizes[digest])
        await copier.session.ensure_blob(store, repo, blob, stats)
