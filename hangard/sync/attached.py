"""What each item's source has attached and its target lacks, within the
cycle's re-check budget.

For the items whose image the source and target agree on, three steps:

1. *Prepare* each item: the digests whose attachments travel (learnt from
   the source index once, cached), and the attachment tags the source
   repository's tag list has for them (one tag list per repository,
   shared).
2. *Budget* the re-checks: an attachment tag already copied to the
   item's target, and a subject whose referrers the API listed before, is
   remembered (:class:`hangard.core.rechecks.AttachmentMemory`); of those,
   at most one per image-target of the cycle is asked again, the least
   recently checked first, and the rest are trusted as remembered.
   Anything not remembered (a tag new in the tag list, or not yet copied to
   that target) is always looked at, and so are the attachments of an
   image that is to be copied.
3. *Find* them (each ``HEAD`` and ``GET`` once per cycle, shared by the
   targets) and compare with what was copied to each target: a registry
   target by the record of what was copied, an archive target by reading
   the archive (:func:`hangard.copy.archived.archive_missing`, no request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import structlog

from hangard.aio import map_bounded
from hangard.copy.archived import archive_missing
from hangard.copy.attachments import Finder
from hangard.core.attachments import (
    SUBSET_NOTE,
    Attachment,
    AttachmentKind,
    AttachmentState,
    image_subjects,
    missing_attachments,
)
from hangard.core.manifest import Descriptor, Manifest
from hangard.core.mediatypes import INDEX_TYPES
from hangard.core.plan import ItemKey, Observation, SyncItem
from hangard.core.rechecks import CheckKey, choose_rechecks
from hangard.core.reference import ImageReference, Repository
from hangard.core.transports import ArchiveReference, StoreReference
from hangard.errors import HangardError
from hangard.once import Once
from hangard.registry.client import RegistryClient
from hangard.stores.base import ImageStore
from hangard.sync.digestcache import DigestCache

__all__ = ["AttachmentObserver", "Look"]

log = structlog.get_logger("hangard.observe")

Look = Callable[[StoreReference], Awaitable[tuple[Descriptor | None, HangardError | None]]]
"""A manifest ``HEAD`` shared with the image observation (each once)."""

Observed = tuple[SyncItem, Descriptor, Observation]
"""An item, its source's descriptor and the observation of its image."""


@dataclass(frozen=True)
class _Pending:
    """An item prepared for finding its attachments."""

    item: SyncItem
    obs: Observation
    subjects: list[str]
    note: str
    names: frozenset[str]
    """The tags and subjects (for the referrers API) that finding looks at."""
    remembered: frozenset[str]
    """Of :attr:`names`, those the memory may answer for this target."""

    @cached_property
    def repo(self) -> str:
        return str(self.item.source.repository)


class AttachmentObserver:
    """One cycle's attachment observation (see the module's steps)."""

    def __init__(
        self,
        client: RegistryClient,
        cache: DigestCache,
        finder: Finder,
        look: Look,
        manifests: Once[Manifest],
        *,
        stores: Callable[[StoreReference], ImageStore],
    ) -> None:
        self.client = client
        self.cache = cache
        self.finder = finder
        self.look = look
        self.manifests = manifests
        self.stores = stores

    async def observe(self, observed: Sequence[Observed]) -> dict[ItemKey, Observation]:
        """The observations of ``observed`` with their attachments; the
        budget is one re-check per item (image-target)."""
        if observed:
            self.cache.memory.next_cycle()
        prepared = await map_bounded(lambda one: self._prepare(*one), observed)
        out = {p.item.key: p for p in prepared if isinstance(p, _Pending)}
        trusted = self._trusted(out.values(), budget=len(observed))
        found = await map_bounded(lambda p: self._finish(p, trusted), list(out.values()))
        noted = {i.key: p for (i, _, _), p in zip(observed, prepared, strict=True)}
        result = {k: p for k, p in noted.items() if isinstance(p, Observation)}
        result.update(zip(out, found, strict=True))
        return result

    def _trusted(self, pending: Iterable[_Pending], budget: int) -> frozenset[CheckKey]:
        """What the memory answers this cycle: the remembered, less the
        ``budget`` least recently checked, less what some item asks anyway."""
        memory = self.cache.memory
        remembered: dict[CheckKey, int] = {}
        fresh: set[CheckKey] = set()
        for p in pending:
            for name in p.names:
                last = memory.last_checked((p.repo, name)) if name in p.remembered else None
                if last is None:
                    fresh.add((p.repo, name))
                else:
                    remembered[(p.repo, name)] = last
        candidates = {k: v for k, v in remembered.items() if k not in fresh}
        return frozenset(candidates) - choose_rechecks(candidates, budget)

    async def _prepare(
        self, item: SyncItem, source: Descriptor, obs: Observation
    ) -> _Pending | Observation:
        assert item.attachments is not None
        repo = item.source.repository
        try:
            subjects, note = await self._subjects(item, source, obs)
            listed = await self.finder.listed(repo, subjects, item.attachments)
        except HangardError as exc:
            return _not_checked(item, obs, exc)
        names = {a.tag for a in listed}
        if subjects and self.finder.asks_api(repo, listed):
            names.update(subjects)
        remembered: set[str] = set()
        if _in_sync(obs):
            copied = self.cache.copied_attachments(_where(item.destination))
            memory = self.cache.memory
            remembered.update(
                a.tag for a in listed if a.tag in copied and memory.tag(str(repo), a.tag)
            )
            remembered.update(s for s in subjects if memory.subject(str(repo), s) is not None)
        return _Pending(item, obs, subjects, note, frozenset(names), frozenset(remembered))

    async def _finish(self, p: _Pending, trusted: frozenset[CheckKey]) -> Observation:
        """``p``'s observation with the attachments the source has and the
        target lacks; a failure to look is a note, not a failed item."""
        item, target = p.item, p.item.destination
        assert item.attachments is not None
        trust = frozenset(n for n in p.names if (p.repo, n) in trusted)
        try:
            found = await self.finder.find(
                item.source.repository, p.subjects, item.attachments, trust
            )
            if isinstance(target, ImageReference):
                missing = await self._missing(target.repository, p.obs, found)
            elif not _in_sync(p.obs):
                missing = found  # the image itself is copied: all of them with it
            else:  # an archive: what it holds is read from it, no request
                copied = self.cache.copied_attachments(_where(target))
                missing = await archive_missing(self.stores(target), found, copied)
        except HangardError as exc:
            return _not_checked(item, p.obs, exc)
        return replace(p.obs, attachments=AttachmentState(found, missing, p.note))

    async def _subjects(
        self, item: SyncItem, source: Descriptor, obs: Observation
    ) -> tuple[list[str], str]:
        """The digests whose attachments travel: learnt from the source index
        once (cached), and not at all while the repository has no
        attachment tag and its registry no referrers API."""
        digest = source.digest
        subset = obs.desired_digest is not None and obs.desired_digest != digest
        note = SUBSET_NOTE if subset else ""
        if source.media_type not in INDEX_TYPES:
            return ([] if subset else [digest]), note
        known = self.cache.subjects.get(self.cache.key(digest, item.platforms))
        if known is not None:
            return known, note
        repo = item.source.repository
        tagged = any(t.startswith("sha256-") for t in await self.finder.tags(repo))
        api = self.finder.referrers_api.get(repo.registry)
        if api is None and not tagged and not subset:
            # not known yet: ask for the index's referrers (which finding
            # asks anyway, so it costs nothing more) and learn whether it can
            api = await self.finder.ask_referrers(repo, digest) is not None
        if not api and not tagged:
            return ([] if subset else [digest]), note
        pinned = item.source.with_digest(digest)
        manifest = await self.manifests(str(pinned), lambda: self.client.get_manifest(pinned))
        subjects, _ = image_subjects(manifest, item.platforms)
        self.cache.put_subjects(digest, item.platforms, subjects)
        return subjects, note

    async def _missing(
        self, target: Repository, obs: Observation, found: tuple[Attachment, ...]
    ) -> tuple[Attachment, ...]:
        """Of ``found``, those the target lacks: all when the image itself
        is to be copied; else those not recorded as copied, except a cosign
        tag the target already holds (one ``HEAD``, then recorded)."""
        if not found or not _in_sync(obs):
            return found
        missing = []
        for attachment in missing_attachments(found, self.cache.copied_attachments(str(target))):
            if attachment.kind is AttachmentKind.COSIGN:
                there, _ = await self.look(target.tag(attachment.tag))
                if there is not None and there.digest == attachment.digest:
                    self.cache.record_attachment(str(target), attachment.key, attachment.digest)
                    continue
            missing.append(attachment)
        return tuple(missing)


def _where(target: StoreReference) -> str:
    """Where the record of copied attachments is kept: a registry target's
    repository, or an archive's image (not one tag of it)."""
    if isinstance(target, ArchiveReference):
        return str(target.with_tag(""))
    return str(target.repository if isinstance(target, ImageReference) else target)


def _in_sync(obs: Observation) -> bool:
    """Whether the target has the image the source has (so only its
    attachments may be missing)."""
    want = obs.desired_digest or obs.source_digest
    return obs.target_digest == want or bool(obs.platforms_match)


def _not_checked(item: SyncItem, obs: Observation, exc: HangardError) -> Observation:
    log.warning("attachments not checked", image=str(item.source), error=str(exc))
    return replace(obs, attachments=AttachmentState(note=f"attachments not checked: {exc}"))
