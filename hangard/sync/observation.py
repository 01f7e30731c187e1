"""Observe digests for a set of sync items with as few requests as possible.

Steady state costs one manifest ``HEAD`` per distinct source tag and one per
target, nothing else: no manifest or blob ``GET``. Platform subsets need the
source index once per source digest to know which digest the subset has; that
answer is kept in a :class:`DigestCache` (in memory for the daemon, persisted
in the state dir between ``sync --once`` runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar, cast

import structlog

from hangard.copy.engine import image_platform
from hangard.core.manifest import Descriptor, select_platforms
from hangard.core.mediatypes import SCHEMA1_TYPES
from hangard.core.plan import ItemKey, Observation, SyncItem
from hangard.core.reference import ImageReference
from hangard.errors import HangardError, NotFoundError
from hangard.registry.client import RegistryClient
from hangard.sync.digestcache import DigestCache

__all__ = ["observe"]

log = structlog.get_logger("hangard.observe")

T = TypeVar("T")


class _Once:
    """Run each distinct lookup once, however many items share it."""

    def __init__(self) -> None:
        self._tasks: dict[object, asyncio.Task[object]] = {}

    async def __call__(self, key: object, make: Callable[[], Awaitable[T]]) -> T:
        task = self._tasks.get(key)
        if task is None:

            async def run() -> object:
                return await make()

            task = self._tasks[key] = asyncio.ensure_future(run())
        result = await asyncio.shield(task)
        return cast(T, result)


async def observe(
    client: RegistryClient,
    items: Iterable[SyncItem],
    cache: DigestCache | None = None,
) -> dict[ItemKey, Observation]:
    cache = cache if cache is not None else DigestCache()
    once = _Once()

    async def head(ref: ImageReference) -> Descriptor | None:
        return await once(("head", str(ref)), lambda: client.head_manifest(ref))

    async def look(ref: ImageReference) -> tuple[Descriptor | None, HangardError | None]:
        try:
            return await head(ref), None
        except HangardError as exc:
            return None, exc

    async def one(item: SyncItem) -> tuple[ItemKey, Observation]:
        (source, source_error), (target, target_error) = await asyncio.gather(
            look(item.source), look(item.destination)
        )
        if source_error is not None:
            return item.key, Observation(error=source_error)
        if target_error is not None:
            # keep the source digest: the failed list then pins what to retry
            return item.key, Observation(source.digest if source else None, error=target_error)
        if source is None:
            return item.key, Observation(target_digest=target.digest if target else None)
        target_digest = target.digest if target else None
        if source.media_type in SCHEMA1_TYPES:
            # the target holds the schema2 conversion: compare with its digest,
            # learnt from the first copy (until then the item reads as drift)
            return item.key, Observation(
                source.digest, target_digest, desired_digest=cache.converted(source.digest)
            )
        if not item.platforms:
            return item.key, Observation(source.digest, target_digest)
        try:
            return item.key, await _observe_subset(
                client, once, cache, item, source.digest, target_digest
            )
        except HangardError as exc:
            return item.key, Observation(source.digest, target_digest, error=exc)

    results = await asyncio.gather(*(one(item) for item in items))
    return dict(results)


async def _observe_subset(
    client: RegistryClient,
    once: _Once,
    cache: DigestCache,
    item: SyncItem,
    source_digest: str,
    target_digest: str | None,
) -> Observation:
    """A platform-filtered item: which digest should the target have, and do
    the selected platforms' manifests match?"""
    known = cache.get(source_digest, item.platforms)
    if known is None:
        pinned = item.source.with_digest(source_digest)
        manifest = await once(("get", str(pinned)), lambda: client.get_manifest(pinned))
        if manifest.is_index:
            selection = select_platforms(manifest, item.platforms)
            digest = selection.manifest.digest if selection.manifest else None
            cache.put(source_digest, item.platforms, digest, selection.platform_digests)
        elif manifest.config is not None:
            found = await image_platform(client, item.source.repository, manifest)
            ok = found is not None and any(p.matches(found) for p in item.platforms)
            cache.put(
                source_digest,
                item.platforms,
                source_digest if ok else None,
                {str(found): source_digest} if ok else {},
            )
        else:  # schema1 and friends: no platform to compare, copy as is
            cache.put(source_digest, item.platforms, source_digest, {})
        known = cache.get(source_digest, item.platforms) or {}
    digest = cast(str | None, known.get("digest"))
    if digest is None:
        return Observation(source_digest, target_digest, no_platform=True)
    desired = str(digest)
    if target_digest is None or target_digest == desired:
        return Observation(source_digest, target_digest, desired_digest=desired)
    # The target differs from our subset: compare the selected children, so
    # an index written by another tool with the same platforms counts as in sync.
    children = known.get("children") or {}
    match: bool | None = None
    if isinstance(children, dict) and children:
        try:
            current = await client.get_manifest(item.destination.with_digest(target_digest))
        except NotFoundError:
            current = None
        if current is not None and current.is_index:
            theirs = {str(d.platform): d.digest for d in current.children if d.platform is not None}
            match = all(theirs.get(p) == d for p, d in children.items())
        elif current is not None:
            match = list(children.values()) == [current.digest]
    return Observation(source_digest, target_digest, desired_digest=desired, platforms_match=match)
