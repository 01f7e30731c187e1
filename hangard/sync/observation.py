"""Observe digests for a set of sync items with as few requests as possible.

Steady state costs one manifest ``HEAD`` per distinct source tag and one per
target, and for attachments one tag list per source repository plus at most
one ``HEAD`` (or referrers ``GET``) per image-target, the cycle's re-check
budget (:mod:`hangard.sync.attached`; what was copied to each target is
remembered in the :class:`DigestCache`): no manifest or blob ``GET``.
Platform subsets need the source index once per source digest to know which digest the subset has; that
answer is kept in a :class:`DigestCache` (in memory for the daemon, persisted
in the state dir between ``sync --once`` runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import cast

import structlog

from hangard.aio import map_bounded
from hangard.copy.attachments import Finder
from hangard.copy.engine import image_platform
from hangard.core.manifest import Descriptor, Manifest, select_platforms
from hangard.core.mediatypes import SCHEMA1_TYPES
from hangard.core.plan import ItemKey, Observation, SyncItem
from hangard.core.reference import ImageReference, Repository
from hangard.core.transports import StoreReference
from hangard.errors import HangardError, NotFoundError
from hangard.once import Once
from hangard.registry.client import RegistryClient
from hangard.stores.base import ImageStore
from hangard.stores.open import open_store
from hangard.sync.attached import AttachmentObserver
from hangard.sync.digestcache import DigestCache

__all__ = ["StoreOpener", "observe"]

log = structlog.get_logger("hangard.observe")


StoreOpener = Callable[[StoreReference], ImageStore]
"""The store behind a target that is not a registry (an archive)."""


async def observe(
    client: RegistryClient,
    items: Iterable[SyncItem],
    cache: DigestCache | None = None,
    stores: StoreOpener | None = None,
    tags: Mapping[Repository, Sequence[str] | HangardError] | None = None,
) -> dict[ItemKey, Observation]:
    """What the registries (and other targets' stores) say about each item
    (errors included, as values). ``tags``: the tag lists already fetched,
    which attachments reuse."""
    opener = stores or (lambda ref: open_store(ref, client))
    cache = DigestCache() if cache is None else cache
    known_apis = dict(cache.referrers_api)
    observer = _Observer(client, cache, opener)
    finder = Finder(client, tags, cache.referrers_api, cache.memory)
    attached = AttachmentObserver(
        client, cache, finder, observer.look, observer.manifests, stores=opener
    )
    try:
        items = list(items)
        images = await map_bounded(observer.image, items)
        out = {item.key: obs for item, (_, obs) in zip(items, images, strict=True)}
        observed = [
            (item, source, obs)
            for item, (source, obs) in zip(items, images, strict=True)
            if source is not None and _has_attachments(item, source, obs)
        ]
        out.update(await attached.observe(observed))
        return out
    finally:
        if cache.referrers_api != known_apis:
            cache.dirty = True


def _has_attachments(item: SyncItem, source: Descriptor, obs: Observation) -> bool:
    """Whether the item's attachments are looked for (the image was
    observed, and is not schema 1)."""
    if item.attachments is None or obs.error or obs.no_platform:
        return False
    return source.media_type not in SCHEMA1_TYPES


class _Observer:
    """One observation round of the images: each manifest ``HEAD`` and
    ``GET`` once."""

    def __init__(self, client: RegistryClient, cache: DigestCache, stores: StoreOpener) -> None:
        self.client = client
        self.cache = cache
        self.stores = stores
        self.heads: Once[Descriptor | None] = Once()
        self.manifests: Once[Manifest] = Once()

    async def look(self, ref: StoreReference) -> tuple[Descriptor | None, HangardError | None]:
        def head() -> Awaitable[Descriptor | None]:
            if isinstance(ref, ImageReference):
                return self.client.head_manifest(ref)
            return self.stores(ref).head_manifest(ref.reference)

        try:
            return await self.heads(str(ref), head), None
        except HangardError as exc:
            return None, exc

    async def image(self, item: SyncItem) -> tuple[Descriptor | None, Observation]:
        """The source's descriptor and the image's observation."""
        (source, source_error), (target, target_error) = await asyncio.gather(
            self.look(item.source), self.look(item.destination)
        )
        if source_error is not None:
            return source, Observation(error=source_error)
        if target_error is not None:
            # keep the source digest: the failed list then pins what to retry
            return source, Observation(source.digest if source else None, error=target_error)
        target_digest = target.digest if target else None
        if source is None:
            return source, Observation(target_digest=target_digest)
        if source.media_type in SCHEMA1_TYPES:
            # the target holds the schema2 conversion: compare with its digest,
            # learnt from the first copy (until then the item reads as drift)
            converted = self.cache.converted(source.digest)
            return source, Observation(source.digest, target_digest, desired_digest=converted)
        if not item.platforms:
            return source, Observation(source.digest, target_digest)
        try:
            return source, await self.subset(item, source.digest, target_digest)
        except HangardError as exc:
            return source, Observation(source.digest, target_digest, error=exc)

    async def subset(
        self, item: SyncItem, source_digest: str, target_digest: str | None
    ) -> Observation:
        """A platform-filtered item: which digest should the target have,
        and do the selected platforms' manifests match?"""
        known = self.cache.get(source_digest, item.platforms)
        if known is None:
            await self._learn_subset(item, source_digest)
            known = self.cache.get(source_digest, item.platforms) or {}
        digest = cast(str | None, known.get("digest"))
        if digest is None:
            return Observation(source_digest, target_digest, no_platform=True)
        desired = str(digest)
        if target_digest is None or target_digest == desired:
            return Observation(source_digest, target_digest, desired_digest=desired)
        children = known.get("children") or {}
        match = await self._children_match(item, target_digest, children)
        return Observation(
            source_digest, target_digest, desired_digest=desired, platforms_match=match
        )

    async def _learn_subset(self, item: SyncItem, source_digest: str) -> None:
        """Read the source once and remember the subset's digest."""
        pinned = item.source.with_digest(source_digest)
        manifest = await self.manifests(str(pinned), lambda: self.client.get_manifest(pinned))
        if manifest.is_index:
            selection = select_platforms(manifest, item.platforms)
            digest = selection.manifest.digest if selection.manifest else None
            self.cache.put(source_digest, item.platforms, digest, selection.platform_digests)
        elif manifest.config is not None:
            found = await image_platform(self.client, item.source.repository, manifest)
            ok = found is not None and any(p.matches(found) for p in item.platforms)
            self.cache.put(
                source_digest,
                item.platforms,
                source_digest if ok else None,
                {str(found): source_digest} if ok else {},
            )
        else:  # schema1 and friends: no platform to compare, copy as is
            self.cache.put(source_digest, item.platforms, source_digest, {})

    async def _children_match(
        self, item: SyncItem, target_digest: str, children: object
    ) -> bool | None:
        """The target differs from our subset: compare the selected children,
        so an index written by another tool with the same platforms counts
        as in sync."""
        if not isinstance(children, dict) or not children:
            return None
        where = item.destination.with_digest(target_digest)
        try:
            if isinstance(where, ImageReference):
                current = await self.client.get_manifest(where)
            else:
                current = await self.stores(where).get_manifest(target_digest)
        except NotFoundError:
            return None
        if current.is_index:
            theirs = {str(d.platform): d.digest for d in current.children if d.platform is not None}
            return all(theirs.get(p) == d for p, d in children.items())
        return list(children.values()) == [current.digest]
