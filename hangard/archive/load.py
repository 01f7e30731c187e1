"""``hangard load``: push an archive's images to a registry, streamed zip
entry → registry, each blob's sha256 checked on the way; blobs already at
the target are skipped and shared ones mounted (the copier's work). The
copier's order (blobs, child manifests, then the tag) means a killed load
never leaves a tag pointing at missing blobs; a rerun completes it.

Without ``overwrite``, a tag that exists at the target with another digest
is reported (:attr:`LoadOutcome.CONFLICT`) and left as it is.

A referrers fallback index (tag ``sha256-<hex>``) is not pushed over the
target's: its referrers are pushed (byte for byte), and unless the target
indexes them itself (the referrers API), its fallback index is merged with
what it already lists (:func:`hangard.copy.archived.load_fallback_index`).

With a signature policy (each item's ``requirements``), an image is loaded
only when the cosign signature the archive holds beside it (its
``sha256-<hex>.sig`` tag, which ``save`` keeps) meets it; a refused image
fails (``signature_missing`` / ``signature_invalid``), the others load.
The images go first, then the attachments; those of a refused image (its
digest's or its children's) are skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from hangard.archive.basefill import fill_from_base
from hangard.archive.destinations import LoadItem
from hangard.copy import Copier, CopyResult, Progress, TransferSession
from hangard.copy.archived import load_fallback_index
from hangard.copy.verify import check_store_signatures
from hangard.core.attachments import attachment_subject, is_attachment_tag
from hangard.core.manifest import select_platforms
from hangard.core.platform import Platform
from hangard.core.transports import ArchiveReference
from hangard.errors import (
    ErrorContext,
    HangardError,
    NotFoundError,
    SignatureInvalidError,
    SignatureMissingError,
)
from hangard.registry.client import RegistryClient
from hangard.stores.archive.opened import ArchiveSet
from hangard.stores.base import ImageStore
from hangard.stores.open import open_store

__all__ = ["LoadOutcome", "LoadReport", "LoadResult", "load"]

log = structlog.get_logger("hangard.archive")

REFUSED_NOTE = "attached to an image the signature policy refused"


class LoadOutcome(StrEnum):
    LOADED = "loaded"
    IN_SYNC = "in-sync"
    CONFLICT = "conflict"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class LoadResult:
    item: LoadItem
    outcome: LoadOutcome
    copy: CopyResult | None = None
    error: HangardError | None = None
    existing: str | None = None
    """For a conflict: the digest the target's tag has."""
    wanted: str | None = None
    note: str = ""
    """Why it was skipped, when no copy says so."""


@dataclass(frozen=True)
class LoadReport:
    archive: Path
    results: tuple[LoadResult, ...]
    duration: float

    def count(self, outcome: LoadOutcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        return not any(
            r.outcome in (LoadOutcome.FAILED, LoadOutcome.CONFLICT) for r in self.results
        )

    @property
    def bytes_moved(self) -> int:
        return sum(r.copy.bytes_moved for r in self.results if r.copy is not None)


async def _wanted(store: ImageStore, tag: str, platforms: Sequence[Platform]) -> str | None:
    """The digest the loaded tag would have (a platform subset's own)."""
    head = await store.head_manifest(tag)
    if head is None or not platforms:
        return head.digest if head else None
    manifest = await store.get_manifest(tag)
    if not manifest.is_index:
        return manifest.digest
    chosen = select_platforms(manifest, platforms).manifest
    return chosen.digest if chosen is not None else None


async def _verify(store: ImageStore, item: LoadItem, refused: set[str]) -> None:
    """Check the image against the policy with the signatures the archive
    holds beside it (by the digest of its top manifest, as at the source).
    A refused image's digests (its children's too) go into ``refused``."""
    if not item.requirements:
        return
    head = await store.head_manifest(item.name.tag or "latest")
    if head is None:
        raise NotFoundError(f"{store} has no {item.name}", ErrorContext(image=str(item.name)))
    try:
        await check_store_signatures(store, item.name.with_digest(head.digest), item.requirements)
    except (SignatureMissingError, SignatureInvalidError):
        refused.add(head.digest)
        top = await store.get_manifest(head.digest)
        refused.update(d.digest for d in top.children)
        raise


async def _one(
    copier: Copier,
    archive: Path,
    item: LoadItem,
    platforms: Sequence[Platform],
    overwrite: bool,
    *,
    refused: set[str],
) -> LoadResult:
    src = ArchiveReference(str(archive), item.name.name, item.name.tag)
    if attachment_subject(item.name.tag or "") in refused:
        return LoadResult(item, LoadOutcome.SKIPPED, note=REFUSED_NOTE)
    try:
        store = open_store(src, copier.client, copier.archives)
        merged = await load_fallback_index(copier, src, item.destination)
        if merged is not None:  # referrers: pushed, the target's fallback index merged
            return LoadResult(item, LoadOutcome.LOADED if merged else LoadOutcome.IN_SYNC)
        await _verify(store, item, refused)
        wanted = await _wanted(store, item.name.tag or "latest", platforms)
        head = await copier.client.head_manifest(item.destination)
        existing = head.digest if head is not None else None
        if existing is not None and wanted is not None and existing != wanted and not overwrite:
            log.warning(
                "tag exists with another digest: not replaced (--overwrite replaces it)",
                image=str(item.name),
                destination=str(item.destination),
                existing=existing,
                wanted=wanted,
            )
            return LoadResult(item, LoadOutcome.CONFLICT, existing=existing, wanted=wanted)
        result = await copier.copy(
            src, item.destination, platforms=platforms, target_digest=existing
        )
    except HangardError as exc:
        log.error(
            "image not loaded",
            image=str(item.name),
            destination=str(item.destination),
            reason=exc.reason.value,
            error=str(exc),
        )
        return LoadResult(item, LoadOutcome.FAILED, error=exc)
    if result.skipped:
        return LoadResult(item, LoadOutcome.SKIPPED, copy=result)
    outcome = LoadOutcome.IN_SYNC if result.up_to_date else LoadOutcome.LOADED
    return LoadResult(item, outcome, copy=result, wanted=result.target_digest)


async def load(
    client: RegistryClient,
    archive: Path,
    items: Sequence[LoadItem],
    *,
    platforms: Sequence[Platform] = (),
    overwrite: bool = False,
    jobs: int = 4,
    progress: Progress | None = None,
    base: Path | None = None,
) -> LoadReport:
    """Load ``items`` from ``archive``; one failing never stops the others.
    A delta archive's left-out layers must be at the target or in ``base``:
    checked (and pushed from ``base``) before anything else is pushed."""
    started = time.monotonic()
    session = (
        TransferSession(client) if progress is None else TransferSession(client, progress=progress)
    )
    copier = Copier(client, session, ArchiveSet())
    gate = asyncio.Semaphore(max(1, jobs))

    refused: set[str] = set()

    async def guarded(item: LoadItem) -> LoadResult:
        async with gate:
            return await _one(copier, archive, item, platforms, overwrite, refused=refused)

    # the images first: an attachment of one the policy refused is not loaded
    order = sorted(range(len(items)), key=lambda n: is_attachment_tag(items[n].name.tag or ""))
    split = sum(1 for n in order if not is_attachment_tag(items[n].name.tag or ""))
    try:
        await fill_from_base(copier, archive, items, base)
        first = await asyncio.gather(*(guarded(items[n]) for n in order[:split]))
        then = await asyncio.gather(*(guarded(items[n]) for n in order[split:]))
    finally:
        await copier.close()
    by_position = dict(zip(order, [*first, *then], strict=True))
    results = tuple(by_position[n] for n in range(len(items)))
    return LoadReport(archive, results, round(time.monotonic() - started, 3))
