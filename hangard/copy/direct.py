"""Blob transfer into a store that is not a registry (an OCI layout or
an archive): present, else mounted where the store can, else streamed from
the source through the verifying stream. Each digest once per target.

A store that writes one blob at a time (:class:`SerialWrites`, an
archive) would make every transfer wait for the one before it, request
round trips included. So a small blob (at most :data:`PREFETCH_MAX` bytes)
is read whole while another is written, at most :data:`PREFETCH_SLOTS` of
them held at once, then written from memory when the slot is free; a
bigger one is opened only once it can be written (its source connection
never idles)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from hangard.copy.blobs import BlobOutcome, BlobStats
from hangard.copy.progress import Meter, NullProgress, Progress
from hangard.copy.stream import capped, sized, verified
from hangard.copy.tasks import SharedWork
from hangard.core.manifest import Descriptor, check_digest
from hangard.registry.options import ClientOptions
from hangard.stores.base import ImageStore, SerialWrites, VerifyingWrites

__all__ = ["PREFETCH_MAX", "PREFETCH_SLOTS", "DirectTransfers"]

PREFETCH_MAX = 1 << 20
"""The largest blob read ahead whole for a store that writes serially."""
PREFETCH_SLOTS = 8
"""How many such blobs may be held at once (so at most 8 MiB)."""


@dataclass
class DirectTransfers:
    """The blob work of one run into non-registry stores."""

    progress: Progress = field(default_factory=NullProgress)
    max_unknown_size: int = ClientOptions.max_unknown_blob_size
    """A blob of unknown size (schema1 layers) past this many bytes fails."""
    _work: SharedWork[tuple[str, str], tuple[BlobOutcome, int]] = field(default_factory=SharedWork)
    _prefetch: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PREFETCH_SLOTS))

    async def ensure_blob(
        self,
        source: ImageStore,
        target: ImageStore,
        blob: Descriptor,
        stats: BlobStats,
        *,
        tap: Callable[[bytes], None] | None = None,
    ) -> BlobOutcome:
        """Make ``blob`` exist in ``target``; count the outcome in ``stats``.
        ``tap`` sees the bytes when they are streamed. Copies needing one
        blob at once share its transfer (see :class:`SharedWork`)."""
        (outcome, nbytes), first = await self._work.run(
            (target.name, blob.digest),
            lambda: asyncio.ensure_future(self._transfer(source, target, blob, tap)),
        )
        if not first:
            outcome, nbytes = BlobOutcome.PRESENT, 0
        stats.add(outcome, nbytes)
        return outcome

    async def _transfer(
        self,
        source: ImageStore,
        target: ImageStore,
        blob: Descriptor,
        tap: Callable[[bytes], None] | None,
    ) -> tuple[BlobOutcome, int]:
        if isinstance(target, SerialWrites) and 0 <= blob.size <= PREFETCH_MAX:
            return await self._prefetched(source, target, blob, tap)
        async with _write_slot(target):
            return await self._transfer_now(source, target, blob, tap)

    async def _prefetched(
        self,
        source: ImageStore,
        target: ImageStore,
        blob: Descriptor,
        tap: Callable[[bytes], None] | None,
    ) -> tuple[BlobOutcome, int]:
        """A small blob into a serial store: read whole (bounded, see the
        module docstring) before waiting for the write slot."""
        if await target.blob_exists(blob.digest):
            return BlobOutcome.PRESENT, 0
        async with self._prefetch:
            async with source.open_blob(blob.digest) as reader:
                self.progress.blob_started(blob.digest, blob.size)
                meter = Meter(self.progress, blob.digest, tap)
                what = f"blob {source.name}@{blob.digest}"
                chunks = sized(reader.chunks(), blob.digest, blob.size, on_chunk=meter, what=what)
                data = b"".join([chunk async for chunk in chunks])
            async with _write_slot(target):
                if await target.mount_blob(blob.digest, source):
                    return BlobOutcome.MOUNTED, 0
                await _put_whole(target, blob, data, what)
        self.progress.blob_finished(blob.digest, BlobOutcome.COPIED.value)
        return BlobOutcome.COPIED, meter.moved

    async def _transfer_now(
        self,
        source: ImageStore,
        target: ImageStore,
        blob: Descriptor,
        tap: Callable[[bytes], None] | None,
    ) -> tuple[BlobOutcome, int]:
        if await target.blob_exists(blob.digest):
            return BlobOutcome.PRESENT, 0
        if await target.mount_blob(blob.digest, source):
            return BlobOutcome.MOUNTED, 0
        async with source.open_blob(blob.digest) as reader:
            size = blob.size if blob.size >= 0 else reader.size
            self.progress.blob_started(blob.digest, size)
            meter = Meter(self.progress, blob.digest, tap)
            what = f"blob {source.name}@{blob.digest}"
            chunks = reader.chunks()
            if size is None:
                chunks = capped(chunks, self.max_unknown_size, what)
            if isinstance(target, VerifyingWrites):  # it hashes: once is enough
                body = sized(chunks, blob.digest, size, on_chunk=meter, what=what)
                await target.put_verified_blob(blob.digest, size, body, what=what)
            else:
                stream = verified(chunks, blob.digest, size, on_chunk=meter, what=what)
                await target.put_blob(blob.digest, size, stream)
        self.progress.blob_finished(blob.digest, BlobOutcome.COPIED.value)
        return BlobOutcome.COPIED, meter.moved


async def _put_whole(target: ImageStore, blob: Descriptor, data: bytes, what: str) -> None:
    """Store ``data``, hashed once: by the target when it verifies what it
    writes, else here."""
    if isinstance(target, VerifyingWrites):
        await target.put_verified_blob(blob.digest, blob.size, data, what=what)
    else:
        check_digest(data, blob.digest, what=what)
        await target.put_blob(blob.digest, blob.size, data)


def _write_slot(target: ImageStore) -> AbstractAsyncContextManager[None]:
    """The target's one write slot when it writes serially, else nothing."""
    if isinstance(target, SerialWrites):
        return target.write_slot()
    return contextlib.nullcontext()
