"""Attachments in archives: what ``save`` (and ``sync`` into a
``hangar-archive:`` target) writes beside an image, what of it an archive
already holds, and how ``load`` pushes a fallback index from one.

An archive holds tagged images, so everything goes under its tag:

* a cosign tag (``.sig``, ``.att``, ``.sbom``) and a source's fallback
  index (``sha256-<hex>``) are saved as images under their tags, byte for
  byte;
* referrers that only the source's referrers API lists are saved under the
  fallback tag too: an OCI index listing them (merged with the one the
  archive has, each entry kept), and each referrer manifest, unchanged,
  with its blobs;
* ``load`` pushes a cosign tag like any image, and a fallback index as its
  referrers (:meth:`AttachmentCopier.push_fallback_index`): the target's
  own fallback index, when it has no referrers API, is merged, not replaced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import structlog

from hangard.copy.attachments import AttachmentCopier, find_image_attachments, typed_referrer
from hangard.copy.engine import Copier
from hangard.core.attachments import (
    Attachment,
    AttachmentKind,
    AttachmentSettings,
    fallback_subject,
    merge_fallback_index,
    referrer_wanted,
)
from hangard.core.cosign import referrers_fallback_tag
from hangard.core.platform import Platform
from hangard.core.reference import ImageReference, Repository
from hangard.core.transports import ArchiveReference
from hangard.stores.base import ImageStore
from hangard.stores.open import open_store

__all__ = [
    "archive_missing",
    "load_fallback_index",
    "save_attachments",
    "save_image_attachments",
]

log = structlog.get_logger("hangard.attachments")


async def save_image_attachments(
    copier: Copier,
    source: ImageReference,
    archive: ArchiveReference,
    platforms: Sequence[Platform],
    settings: AttachmentSettings,
) -> list[Attachment]:
    """After ``source`` (pinned) was saved as ``archive``'s image: find its
    attachments and save them beside it (``hangard save``)."""
    found = await find_image_attachments(copier.client, source, platforms, settings)
    return await save_attachments(copier, source.repository, archive, found, settings)


async def save_attachments(
    copier: Copier,
    source: Repository,
    archive: ArchiveReference,
    found: Iterable[Attachment],
    settings: AttachmentSettings,
) -> list[Attachment]:
    """Save ``found`` (attachments at ``source``) into the image ``archive``
    names, each under its tag; the ones saved."""
    done = []
    by_api: dict[str, list[Attachment]] = {}
    for attachment in found:
        if attachment.kind is AttachmentKind.REFERRER:
            by_api.setdefault(attachment.subject, []).append(attachment)
            continue
        pinned = source.tag(attachment.tag).with_digest(attachment.digest)
        if attachment.kind is AttachmentKind.REFERRERS:
            await _save_fallback(copier, pinned, archive.with_tag(attachment.tag), settings)
        else:
            await copier.copy(pinned, archive.with_tag(attachment.tag))
        done.append(attachment)
    for subject, listed in by_api.items():
        done += await _save_referrers(copier, source, archive, subject, listed)
    return done


async def _save_fallback(
    copier: Copier, pinned: ImageReference, dst: ArchiveReference, settings: AttachmentSettings
) -> None:
    """A source's fallback index: saved unchanged, or, when ``settings``
    leave some of its entries out, as an index of the others (each
    referrer manifest unchanged)."""
    index = await copier.client.get_manifest(pinned)
    wanted = [d for d in index.children if referrer_wanted(d, settings)]
    if not index.is_index or len(wanted) == len(index.children):
        await copier.copy(pinned, dst)
    elif wanted:
        await copier.push_built(pinned, dst, merge_fallback_index(None, wanted))


async def _save_referrers(
    copier: Copier,
    source: Repository,
    archive: ArchiveReference,
    subject: str,
    listed: list[Attachment],
) -> list[Attachment]:
    """Referrers of ``subject`` that the source's API lists, under its
    fallback tag in the archive: a fallback index listing them (and what
    the archive's listed before), each manifest beside it."""
    dst = archive.with_tag(referrers_fallback_tag(subject))
    store = open_store(dst, copier.client, copier.archives)
    there = await store.head_manifest(dst.reference)
    existing = await store.get_manifest(dst.reference) if there is not None else None
    have = {d.digest for d in existing.children} if existing is not None else set()
    new, saved = [], []
    for attachment in listed:
        if attachment.digest in have:
            continue
        desc = await copier.client.head_manifest(source.digest(attachment.digest))
        if desc is not None:  # gone since the listing otherwise
            new.append(typed_referrer(desc, attachment))
            saved.append(attachment)
    if new:
        index = merge_fallback_index(existing, new)
        await copier.push_built(source.digest(new[0].digest), dst, index)
        log.info("referrers saved under the fallback tag", tag=dst.reference, count=len(new))
    return saved


async def archive_missing(
    store: ImageStore, found: Iterable[Attachment], copied: Mapping[str, str]
) -> tuple[Attachment, ...]:
    """Those of ``found`` the archive image ``store`` lacks: a tag it does
    not hold with the source's digest, a referrer its fallback index does
    not list. Reads the archive only, and not for what ``copied`` (tag →
    source digest, what the last sync saved) names: a fallback index saved
    filtered has a digest of its own, or is not there at all."""
    missing = []
    listed: dict[str, set[str]] = {}
    for attachment in found:
        if attachment.kind is AttachmentKind.REFERRER:
            subject = attachment.subject
            if subject not in listed:
                listed[subject] = await _listed(store, referrers_fallback_tag(subject))
            if attachment.digest not in listed[subject]:
                missing.append(attachment)
            continue
        if copied.get(attachment.key) == attachment.digest:
            continue
        there = await store.head_manifest(attachment.tag)
        if there is None or there.digest != attachment.digest:
            missing.append(attachment)
    return tuple(missing)


async def _listed(store: ImageStore, tag: str) -> set[str]:
    if await store.head_manifest(tag) is None:
        return set()
    index = await store.get_manifest(tag)
    return {d.digest for d in index.children}


async def load_fallback_index(
    copier: Copier, src: ArchiveReference, destination: ImageReference
) -> bool | None:
    """Load the archive entry ``src`` when it is a fallback index
    (``sha256-<hex>``): its referrers pushed, the target's fallback index
    merged if it needs one. Whether anything was written; ``None`` when
    ``src`` is no fallback index (load it as an image)."""
    subject = fallback_subject(src.tag or "")
    if subject is None:
        return None
    index = await open_store(src, copier.client, copier.archives).get_manifest(src.reference)
    if not index.is_index:
        return None
    return await AttachmentCopier(copier).push_fallback_index(
        src, destination.repository, subject, index
    )
