"""Blob transfer between registries, shared by every copy in one run.

For each (target repository, digest) the session does the work once, even
when many images need it at the same moment:

1. ``HEAD`` on the target: present, nothing to do;
2. a cross-repo mount when the same registry already holds the blob (the
   source itself, or a repository this run pushed it to, waiting for a push
   of that digest still in flight);
3. otherwise stream it: source ``GET`` → verifying hash → target ``PUT``.
   Monolithic first; chunked when configured or when the registry refuses a
   monolithic upload. Transient failures restart the blob from step 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

from hangard.copy.progress import Meter, NullProgress, Progress
from hangard.copy.spool import Spool
from hangard.copy.stream import capped, pipelined, verified
from hangard.copy.tasks import SharedWork
from hangard.core.manifest import Descriptor
from hangard.core.reference import Repository
from hangard.errors import (
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
)
from hangard.registry.chunks import Upload as _Upload
from hangard.registry.client import RegistryClient
from hangard.registry.sessions import finish
from hangard.stores.base import BlobSource, BlobStream

__all__ = ["BlobOutcome", "BlobStats", "TransferSession"]

log = structlog.get_logger("hangard.copy")

_MONOLITHIC_REFUSED = {400, 405, 411, 413, 416, 501}
_REFUSAL_CODES = {"BLOB_UPLOAD_INVALID", "UNSUPPORTED"}
#: Blobs up to this size are probed with a self-mount instead of a HEAD, and
#: read whole (then uploaded as replayable bytes) instead of streamed.
PROBE_BY_MOUNT_MAX = 1 << 20
SMALL_BLOB_MAX = 1 << 20
_TRANSIENT = (TransportError, ServerError, RateLimitedError)


class BlobOutcome(StrEnum):
    COPIED = "copied"
    MOUNTED = "mounted"
    PRESENT = "present"


@dataclass
class BlobStats:
    """Counters for one copy (or one run)."""

    copied: int = 0
    mounted: int = 0
    present: int = 0
    bytes_moved: int = 0

    def add(self, outcome: BlobOutcome, nbytes: int = 0) -> None:
        if outcome is BlobOutcome.COPIED:
            self.copied += 1
        elif outcome is BlobOutcome.MOUNTED:
            self.mounted += 1
        else:
            self.present += 1
        self.bytes_moved += nbytes


@dataclass
class _Done:
    outcome: BlobOutcome
    nbytes: int


class _MonolithicRefused(Exception):
    def __init__(self, cause: ResponseError) -> None:
        self.cause = cause


@dataclass
class TransferSession:
    """Blob work shared across the copies of one run."""

    client: RegistryClient
    progress: Progress = field(default_factory=NullProgress)
    max_attempts: int = 3
    totals: BlobStats = field(default_factory=BlobStats)
    _work: SharedWork[tuple[Repository, str], _Done] = field(default_factory=SharedWork)
    _holders: dict[tuple[str, str], Repository] = field(default_factory=dict)
    _leaders: dict[tuple[str, str], asyncio.Future[_Done]] = field(default_factory=dict)

    def known_holder(self, registry: str, digest: str) -> Repository | None:
        return self._holders.get((registry, digest))

    async def ensure_blob(
        self,
        source: Repository | BlobSource,
        target: Repository,
        blob: Descriptor,
        stats: BlobStats,
        *,
        tap: Callable[[bytes], None] | None = None,
    ) -> BlobOutcome:
        """Make ``blob`` exist in ``target``; count the outcome in ``stats``.

        ``tap`` sees the bytes when they are streamed (not when the blob is
        present, mounted, or being handled by another copy). ``source`` is a
        repository (of any registry: mounts work within one) or any other
        store's blobs.
        """

        def start() -> asyncio.Future[_Done]:
            task = asyncio.ensure_future(self._transfer(source, target, blob, tap))
            leader = self._leaders.get((target.registry, blob.digest))
            if leader is None or leader.done():
                self._leaders[(target.registry, blob.digest)] = task
            return task

        # copies needing the blob at once share one transfer; the last one
        # to stop waiting cancels it, and waits until its upload is cancelled
        done, first = await self._work.run((target, blob.digest), start)
        outcome = done.outcome if first else BlobOutcome.PRESENT
        stats.add(outcome, done.nbytes if first else 0)
        if first:
            self.totals.add(outcome, done.nbytes)
        return outcome

    async def _transfer(
        self,
        source: Repository | BlobSource,
        target: Repository,
        blob: Descriptor,
        tap: Callable[[bytes], None] | None,
    ) -> _Done:
        chunked = self.client.options.for_registry(target.registry).chunk_size is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                done = await self._transfer_once(source, target, blob, tap, chunked=chunked)
            except _MonolithicRefused as refused:
                if chunked:
                    raise refused.cause from None
                log.info("monolithic upload refused; using chunks", target=str(target))
                chunked = True
                continue
            except _TRANSIENT as exc:
                if attempt >= self.max_attempts:
                    raise
                # the transport's one backoff formula, on its clock
                # (the source's retry_delay when it is a registry)
                registry = source.registry if isinstance(source, Repository) else ""
                delay = self.client.transport.backoff(attempt, registry=registry)
                log.warning(
                    "blob transfer failed, restarting",
                    digest=blob.digest,
                    target=str(target),
                    attempt=attempt,
                    error=str(exc),
                )
                await self.client.transport.clock.sleep(delay)
                continue
            self._holders[(target.registry, blob.digest)] = target
            self.progress.blob_finished(blob.digest, done.outcome.value)
            return done

    async def _transfer_once(
        self,
        source: Repository | BlobSource,
        target: Repository,
        blob: Descriptor,
        tap: Callable[[bytes], None] | None,
        *,
        chunked: bool,
    ) -> _Done:
        client = self.client
        location: str | None = None
        origin = source if isinstance(source, Repository) else None
        holder = origin if origin is not None and origin.registry == target.registry else None
        holder = holder or self.known_holder(target.registry, blob.digest)
        probe = holder is None and not self._leader_running(target.registry, blob.digest)
        if probe and 0 <= blob.size <= PROBE_BY_MOUNT_MAX:
            # One request instead of HEAD + POST: a mount from the target
            # repository itself answers 201 when the blob is already there and
            # opens an upload otherwise. A registry that refuses mounts costs a
            # re-upload of at most PROBE_BY_MOUNT_MAX bytes, and only when the
            # manifest needs pushing anyway.
            present, location = await client.mount_blob(target, blob.digest, target)
            if present:
                return _Done(BlobOutcome.PRESENT, 0)
        else:
            if await client.blob_exists(target, blob.digest):
                return _Done(BlobOutcome.PRESENT, 0)
            if holder is None:
                await self._follow_leader(target.registry, blob.digest)
                holder = self.known_holder(target.registry, blob.digest)
            if holder is not None and holder != target:
                mounted, location = await client.mount_blob(target, blob.digest, holder)
                if mounted:
                    return _Done(BlobOutcome.MOUNTED, 0)
        nbytes = await self._upload(source, target, blob, location, tap, chunked=chunked)
        return _Done(BlobOutcome.COPIED, nbytes)

    async def _upload(
        self,
        source: Repository | BlobSource,
        target: Repository,
        blob: Descriptor,
        location: str | None,
        tap: Callable[[bytes], None] | None,
        *,
        chunked: bool,
    ) -> int:
        """Send the blob's bytes from ``source`` into an upload (the one at
        ``location``, or a new one), streamed in the slots of both ends; or,
        when they share a host with no room for both, spooled first, in one
        slot that then serves the upload: the two are never open together."""
        client = self.client
        # a refused mount may already have opened the upload: it is cancelled
        # too when this transfer stops before it streams
        upload = _Upload(location) if location is not None else None
        origin = source if isinstance(source, Repository) else None
        sides = (target.registry,) if origin is None else (origin.registry, target.registry)
        spooling = origin is not None and not client.transport.limiter.fits(*sides)
        try:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(
                    client.transfer_slot(target.registry)
                    if spooling
                    else client.transfer_slot(*sides)
                )
                reader = await self._spool(origin, blob, stack) if origin and spooling else None
                if upload is None:
                    upload = _Upload(await client.start_upload(target))
                async with self._open(source, blob.digest, reader) as stream:
                    return await self._stream(
                        stream, target, blob, upload, source=source, tap=tap, chunked=chunked
                    )
        except BaseException:
            if upload is not None:
                # the newest Location: a chunked upload's first one is stale
                await finish(client.cancel_upload(target, upload.location))
            raise

    async def _spool(self, source: Repository, blob: Descriptor, stack: AsyncExitStack) -> Spool:
        """Download the blob, verified, into a :class:`Spool` that lives as
        long as ``stack``; the download is closed when this returns."""
        what = f"blob {source}@{blob.digest}"
        spool = await stack.enter_async_context(Spool(what))
        async with self.client.open_blob(source, blob.digest) as reader:
            size = blob.size if blob.size >= 0 else reader.size
            chunks = reader.chunks()
            if size is None:
                chunks = capped(chunks, self.client.options.max_unknown_blob_size, what)
            await spool.fill(verified(chunks, blob.digest, size, what=what), size)
        return spool

    def _leader_running(self, registry: str, digest: str) -> bool:
        leader = self._leaders.get((registry, digest))
        return leader is not None and not leader.done() and leader is not asyncio.current_task()

    async def _follow_leader(self, registry: str, digest: str) -> None:
        """Wait while another repository of ``registry`` is being sent
        ``digest``, so that this one mounts it instead of uploading it again.
        Only the first transfer of a digest leads, so two never wait on each
        other; if the leader fails, the caller uploads by itself."""
        leader = self._leaders.get((registry, digest))
        if leader is None or leader.done() or leader is asyncio.current_task():
            return
        try:
            await asyncio.shield(leader)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this transfer is being cancelled, not only the leader
        except Exception:
            pass  # reported by the copy that owns it

    def _open(
        self, source: Repository | BlobSource, digest: str, spooled: BlobStream | None
    ) -> AbstractAsyncContextManager[BlobStream]:
        if spooled is not None:
            return nullcontext(spooled)
        if isinstance(source, Repository):
            return self.client.open_blob(source, digest)
        return source.open_blob(digest)

    async def _stream(
        self,
        reader: BlobStream,
        target: Repository,
        blob: Descriptor,
        upload: _Upload,
        *,
        source: Repository | BlobSource,
        tap: Callable[[bytes], None] | None,
        chunked: bool,
    ) -> int:
        """Pour ``reader`` (of ``source``) into ``upload``, verified."""
        client = self.client
        size = blob.size if blob.size >= 0 else reader.size
        self.progress.blob_started(blob.digest, size)
        meter = Meter(self.progress, blob.digest, tap)
        small = size is not None and size <= SMALL_BLOB_MAX and not chunked
        source_chunks = reader.chunks()
        if size is None:
            cap = client.options.max_unknown_blob_size
            source_chunks = capped(source_chunks, cap, f"blob {source}@{blob.digest}")
        stream = verified(
            source_chunks if small else pipelined(source_chunks),
            blob.digest,
            size,
            on_chunk=meter,
            what=f"blob {source}@{blob.digest}",
        )
        body: AsyncIterator[bytes] | bytes = stream
        if small:
            # whole and verified before the upload starts: cheaper than a
            # stream, and the PUT becomes replayable
            body = b"".join([chunk async for chunk in stream])
        chunk_size = (
            client.options.for_registry(target.registry).chunk_size
            or client.options.upload_chunk_size
        )
        try:
            if isinstance(body, bytes):
                await client.put_blob(target, upload.location, blob.digest, len(body), body)
            elif chunked or size is None:
                await client.put_blob_chunked(
                    target, upload.location, blob.digest, body, chunk_size, session=upload
                )
            else:
                await client.put_blob(target, upload.location, blob.digest, size, body)
        except ResponseError as exc:
            refused = exc.status in _MONOLITHIC_REFUSED or exc.code in _REFUSAL_CODES
            if refused and not chunked and size is not None:
                raise _MonolithicRefused(exc) from exc
            raise
        return meter.moved
