"""Find an image's attachments at a registry source and copy them to a
registry target (the decisions are :mod:`hangard.core.attachments`').

Finding: the source repository's tag list names the cosign and fallback
tags; each found costs one ``HEAD`` (its digest). A source with the
referrers API (learnt once per registry: distribution 2.8 answers 404) is
asked once per subject digest instead of the fallback tag.

Copying: a cosign tag is copied as an image under its tag (blobs first);
a referrer manifest is pushed by digest after its blobs, and when the target
answers without ``OCI-Subject`` its fallback index is merged with what it
already lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence

import structlog

from hangard.copy.blobs import BlobStats
from hangard.copy.engine import Copier
from hangard.core.attachments import (
    Attachment,
    AttachmentKind,
    AttachmentSettings,
    attachments_in,
    image_subjects,
    merge_fallback_index,
    referrer_artifact_type,
    referrer_wanted,
)
from hangard.core.cosign import referrers_fallback_tag
from hangard.core.manifest import Descriptor, Manifest
from hangard.core.platform import Platform
from hangard.core.rechecks import AttachmentMemory, Referrer
from hangard.core.reference import ImageReference, Repository
from hangard.core.transports import ArchiveReference, StoreReference
from hangard.errors import HangardError, NotFoundError, UnsupportedMediaTypeError
from hangard.once import Once
from hangard.registry.client import RegistryClient
from hangard.registry.referrers import list_referrers, push_referrer
from hangard.stores.base import ImageStore
from hangard.stores.open import open_store
from hangard.stores.registry import RegistryStore

__all__ = [
    "AttachmentCopier",
    "Finder",
    "Origin",
    "copy_image_attachments",
    "find_image_attachments",
    "typed_referrer",
]

log = structlog.get_logger("hangard.attachments")

Origin = Repository | ArchiveReference
"""Where attachments are copied from: a registry repository, or an image
(named) in an archive (``hangard load``)."""


class Finder:
    """Finds attachments at the source, each tag list and ``HEAD`` once.

    ``tags`` holds tag lists already fetched (pattern entries');
    ``referrers_api`` remembers, per registry host, whether it has the
    referrers API (a dict the caller may persist); ``memory`` what each
    ``HEAD`` and referrers ``GET`` saw, so that a later :meth:`find` may
    trust it instead of asking again (:mod:`hangard.core.rechecks`).
    """

    def __init__(
        self,
        client: RegistryClient,
        tags: Mapping[Repository, Sequence[str] | HangardError] | None = None,
        referrers_api: MutableMapping[str, bool] | None = None,
        memory: AttachmentMemory | None = None,
    ) -> None:
        self.client = client
        self.known = dict(tags or {})
        self.referrers_api = {} if referrers_api is None else referrers_api
        self.memory = AttachmentMemory() if memory is None else memory
        self._tags: Once[Sequence[str]] = Once()
        self._heads: Once[str | None] = Once()
        self._referrers: Once[tuple[Referrer, ...] | None] = Once()

    async def tags(self, repo: Repository) -> Sequence[str]:
        async def listing() -> Sequence[str]:
            listed = self.known.get(repo)
            if listed is None or isinstance(listed, HangardError):
                listed = await self.client.list_tags(repo)
            self.memory.keep_listed(str(repo), listed)
            return listed

        return await self._tags(repo, listing)

    async def digest(self, repo: Repository, tag: str) -> str | None:
        async def head() -> str | None:
            found = await self.client.head_manifest(repo.tag(tag))
            digest = found.digest if found is not None else None
            self.memory.saw_tag(str(repo), tag, digest)
            return digest

        return await self._heads((repo, tag), head)

    async def listed(
        self, repo: Repository, subjects: Sequence[str], settings: AttachmentSettings
    ) -> tuple[Attachment, ...]:
        """The attachment tags of ``subjects`` the tag list of ``repo`` has."""
        return attachments_in(await self.tags(repo), subjects, settings) if subjects else ()

    def asks_api(self, repo: Repository, listed: Sequence[Attachment]) -> bool:
        """Whether :meth:`find` asks the referrers API for these subjects."""
        has_index = any(a.kind is AttachmentKind.REFERRERS for a in listed)
        return not has_index and self.referrers_api.get(repo.registry) is not False

    async def find(
        self,
        repo: Repository,
        subjects: Sequence[str],
        settings: AttachmentSettings,
        trust: frozenset[str] = frozenset(),
    ) -> tuple[Attachment, ...]:
        """What ``subjects`` have attached at ``repo``, with their digests;
        for the tags and subjects in ``trust``, as :attr:`memory` has them
        (when it has them) instead of asking."""
        listed = await self.listed(repo, subjects, settings)
        found = []
        for attachment in listed:
            digest = self.memory.tag(str(repo), attachment.tag) if attachment.tag in trust else None
            digest = digest or await self.digest(repo, attachment.tag)
            if digest is not None:  # gone since the listing
                found.append(_with_digest(attachment, digest))
        if self.asks_api(repo, found):
            found += await self._from_api(repo, subjects, settings, trust)
        return tuple(found)

    async def _from_api(
        self,
        repo: Repository,
        subjects: Sequence[str],
        settings: AttachmentSettings,
        trust: frozenset[str],
    ) -> list[Attachment]:
        found = []
        for subject in subjects:
            listed = self.memory.subject(str(repo), subject) if subject in trust else None
            listed = listed if listed is not None else await self.ask_referrers(repo, subject)
            if listed is None:
                return []
            found += [
                Attachment("", subject, AttachmentKind.REFERRER, kind, digest)
                for digest, kind in listed
                if settings.wants(kind)
            ]
        return found

    async def ask_referrers(self, repo: Repository, subject: str) -> tuple[Referrer, ...] | None:
        """The referrers the API lists for ``subject`` (``None``: no API),
        asked once per cycle."""

        async def ask() -> tuple[Referrer, ...] | None:
            listed = await list_referrers(self.client, repo, subject)
            self.referrers_api[repo.registry] = listed is not None
            if listed is None:
                return None
            found = tuple((d.digest, referrer_artifact_type(d)) for d in listed)
            self.memory.saw_referrers(str(repo), subject, found)
            return found

        if self.referrers_api.get(repo.registry) is False:
            return None
        return await self._referrers((repo, subject), ask)


def _with_digest(attachment: Attachment, digest: str) -> Attachment:
    return Attachment(
        attachment.tag, attachment.subject, attachment.kind, attachment.artifact_type, digest
    )


class AttachmentCopier:
    """Copies attachments with a :class:`Copier`'s client and transfer
    session (so blobs shared with the image are not uploaded twice)."""

    def __init__(self, copier: Copier) -> None:
        self.copier = copier
        self.client = copier.client
        self.written: list[tuple[str, str]] = []
        """``(tag, digest)`` of each target tag pushed (cosign tags, and
        fallback indexes created or merged), in order: what pruning owns."""

    async def copy(
        self,
        source: Repository,
        target: Repository,
        attachments: Iterable[Attachment],
        settings: AttachmentSettings,
    ) -> list[Attachment]:
        """Copy each of ``attachments``; the ones copied (all, or an error)."""
        done = []
        for attachment in attachments:
            if attachment.kind is AttachmentKind.COSIGN:
                copied = await self.copier.copy(
                    source.tag(attachment.tag).with_digest(attachment.digest),
                    target.tag(attachment.tag),
                )
                if copied.target_digest and not copied.up_to_date:
                    self.written.append((attachment.tag, copied.target_digest))
            elif attachment.kind is AttachmentKind.REFERRERS:
                index = await self.client.get_manifest(source.digest(attachment.digest))
                wanted = [d for d in index.children if referrer_wanted(d, settings)]
                await self._referrers(source, target, attachment.subject, wanted, index)
            else:
                desc = await self.client.head_manifest(source.digest(attachment.digest))
                if desc is not None:
                    await self._referrers(
                        source, target, attachment.subject, [typed_referrer(desc, attachment)]
                    )
            log.info(
                "attachment copied",
                source=str(source),
                target=str(target),
                attachment=attachment.describe(),
            )
            done.append(attachment)
        return done

    async def _referrers(
        self,
        origin: Origin,
        target: Repository,
        subject: str,
        wanted: list[Descriptor],
        as_is: Manifest | None = None,
    ) -> bool:
        """Push each referrer (blobs first); then, unless the target said
        ``OCI-Subject``, list them in its fallback index (``as_is``, when
        the target has none and it lists just these: the index pushed
        unchanged). Whether anything was written."""
        indexed: bool | None = None
        pushed = []
        for desc in wanted:
            if await self.client.head_manifest(target.digest(desc.digest)) is None:
                try:
                    said = await self._push(origin, target, desc)
                except (NotFoundError, UnsupportedMediaTypeError) as exc:
                    # a dangling or foreign entry of the source's list: not ours to fix
                    log.warning("referrer not copied", image=str(origin), error=str(exc))
                    continue
                indexed = said if indexed is None else indexed and said
            pushed.append(desc)
        if not pushed:
            return False
        wrote = indexed is not None
        if indexed is None:  # all were there: does the target keep a list itself?
            indexed = await list_referrers(self.client, target, subject) is not None
        if not indexed:
            wrote = await self._merge_fallback(target, subject, pushed, as_is) or wrote
        return wrote

    async def push_fallback_index(
        self, origin: ArchiveReference, target: Repository, subject: str, index: Manifest
    ) -> bool:
        """``hangard load`` of a fallback index (``sha256-<hex>``) from an
        archive: its referrers are pushed; the target's own fallback index,
        if it needs one, is merged, keeping the entries it had. Whether
        anything was written."""
        return await self._referrers(origin, target, subject, list(index.children), index)

    def _store(self, origin: Origin) -> ImageStore:
        if isinstance(origin, Repository):
            return RegistryStore(self.client, origin)
        return open_store(origin, self.client, self.copier.archives)

    async def _push(self, origin: Origin, target: Repository, desc: Descriptor) -> bool:
        store = self._store(origin)
        manifest = await store.get_manifest(desc.digest)
        if manifest.is_index:  # rare: an index as a referrer; its children first
            pinned: StoreReference = (
                origin.digest(desc.digest)
                if isinstance(origin, Repository)
                else origin.with_digest(desc.digest)
            )
            await self.copier.copy(pinned, target.digest(desc.digest))
            return False
        stats = BlobStats()
        blobs: Repository | ImageStore = origin if isinstance(origin, Repository) else store
        for blob in manifest.blobs:
            await self.copier.session.ensure_blob(blobs, target, blob, stats)
        return await push_referrer(self.client, target.digest(desc.digest), manifest)

    async def _merge_fallback(
        self,
        target: Repository,
        subject: str,
        wanted: list[Descriptor],
        as_is: Manifest | None = None,
    ) -> bool:
        ref = target.tag(referrers_fallback_tag(subject))
        try:
            existing = await self.client.get_manifest(ref)
        except NotFoundError:
            existing = None
        have = {d.digest for d in existing.children} if existing is not None else set()
        if existing is not None and all(d.digest in have for d in wanted):
            return False
        if existing is None and as_is is not None and _lists(as_is, wanted):
            merged = as_is
        else:
            merged = merge_fallback_index(existing, wanted)
        await self.client.put_manifest(ref, merged)
        self.written.append((referrers_fallback_tag(subject), merged.digest))
        return True


def _lists(index: Manifest, wanted: list[Descriptor]) -> bool:
    """Whether ``index`` lists exactly the digests of ``wanted``."""
    return {d.digest for d in index.children} == {d.digest for d in wanted}


def typed_referrer(desc: Descriptor, attachment: Attachment) -> Descriptor:
    """A referrer's descriptor for a fallback index: with its artifact type."""
    raw: dict[str, object] = {
        "mediaType": desc.media_type,
        "digest": desc.digest,
        "size": desc.size,
    }
    if attachment.artifact_type and attachment.artifact_type != desc.media_type:
        raw["artifactType"] = attachment.artifact_type
    return Descriptor(desc.media_type, desc.digest, desc.size, raw=raw)


async def find_image_attachments(
    client: RegistryClient,
    source: ImageReference,
    platforms: Sequence[Platform],
    settings: AttachmentSettings,
) -> tuple[Attachment, ...]:
    """The attachments of ``source`` (pinned) that travel when it is copied
    with ``platforms``: the index's own and those of each child kept (a
    platform subset's index has none at the source, which is logged)."""
    manifest = await client.get_manifest(source)
    subjects, note = image_subjects(manifest, platforms)
    if note:
        log.info(note, image=str(source))
    return await Finder(client).find(source.repository, subjects, settings)


async def copy_image_attachments(
    copier: Copier,
    source: ImageReference,
    target: Repository,
    platforms: Sequence[Platform],
    settings: AttachmentSettings,
) -> list[Attachment]:
    """After ``source`` (pinned) was copied to ``target`` with ``platforms``:
    find its attachments and copy them (``hangard copy``)."""
    found = await find_image_attachments(copier.client, source, platforms, settings)
    return await AttachmentCopier(copier).copy(source.repository, target, found, settings)
