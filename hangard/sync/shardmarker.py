"""The shard-count marker (:mod:`hangard.core.shard`): shard 0 writes it to
the first registry target, every sharded instance reads it once per cycle
and warns when its own shard count differs. It never fails a cycle."""

from __future__ import annotations

import structlog

from hangard.core.desired import DesiredState
from hangard.core.manifest import parse_manifest
from hangard.core.reference import ImageReference, Repository
from hangard.core.shard import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    MARKER_REPOSITORY,
    MARKER_TAG,
    Shard,
    marker_count,
    marker_manifest,
)
from hangard.errors import HangardError, NotFoundError
from hangard.registry.client import RegistryClient

__all__ = ["check_shard_marker", "marker_reference"]

log = structlog.get_logger("hangard.sync")


def marker_reference(state: DesiredState) -> ImageReference | None:
    """Where the marker lives: the first registry target (by name)."""
    for name in sorted(state.targets):
        registry = state.targets[name].registry
        if registry is not None:
            return ImageReference(registry, MARKER_REPOSITORY, tag=MARKER_TAG)
    return None


async def check_shard_marker(
    client: RegistryClient, state: DesiredState, shard: Shard
) -> int | None:
    """Read the marker (shard 0: write it when it is missing or differs);
    return the count it held, ``None`` when there was none to read."""
    ref = marker_reference(state)
    if ref is None or shard.count == 1:
        return None
    try:
        try:
            raw, _ = await client.get_manifest_bytes(ref)
            recorded = marker_count(raw)
        except NotFoundError:
            recorded = None
        if shard.index == 0 and recorded != shard.count:
            await _write(client, ref, shard.count, recorded)
            return recorded  # the authority: the marker now holds its count
    except HangardError as exc:
        log.warning("could not check the shard marker", marker=str(ref), error=str(exc))
        return None
    if recorded is not None and recorded != shard.count:
        log.warning(
            "shard count differs from the peers'",
            shard=str(shard),
            marker=str(ref),
            marker_shards=recorded,
            hint=f"set HANGARD_SHARDS={recorded} on every instance, or the same N on all "
            "(shard 0 writes the marker)",
        )
    return recorded


async def _write(
    client: RegistryClient, ref: ImageReference, count: int, previous: int | None
) -> None:
    repo: Repository = ref.repository
    if not await client.blob_exists(repo, EMPTY_JSON_DIGEST):
        location = await client.start_upload(repo)
        await client.put_blob(repo, location, EMPTY_JSON_DIGEST, len(EMPTY_JSON), EMPTY_JSON)
    manifest = parse_manifest(marker_manifest(count), image=str(ref))
    await client.put_manifest(ref, manifest)
    log.info("shard marker written", marker=str(ref), shards=count, previous=previous)
