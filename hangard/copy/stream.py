"""Verifying byte streams: hash as the bytes pass, and fail before the last
chunk leaves when the content does not match its digest, so an upload fed
from the stream is never committed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import zlib
from collections.abc import AsyncIterator, Callable

from hangard.errors import BlobTooLargeError, DigestMismatchError, Schema1ConversionError

__all__ = ["DiffIdTap", "capped", "pipelined", "verified"]

#: Bytes buffered between the source reader and the target writer.
PIPELINE_BUFFER = 8 << 20


async def verified(
    chunks: AsyncIterator[bytes],
    digest: str,
    size: int | None,
    *,
    on_chunk: Callable[[bytes], None] | None = None,
    what: str = "blob",
) -> AsyncIterator[bytes]:
    """Yield ``chunks`` unchanged, holding the newest one back until the next
    arrives. At the end, the digest (and size, when known) is checked before
    the held-back chunk is released; on mismatch :class:`DigestMismatchError`
    is raised instead, and the consumer never sees the complete body."""
    algorithm, _, _ = digest.partition(":")
    hasher = hashlib.new(algorithm)
    held: bytes | None = None
    total = 0
    async for chunk in chunks:
        if not chunk:
            continue
        hasher.update(chunk)
        total += len(chunk)
        if size is not None and total > size:
            raise DigestMismatchError(digest, f"more than {size} bytes", what=what)
        if on_chunk is not None:
            on_chunk(chunk)
        if held is not None:
            yield held
        held = chunk
    actual = f"{algorithm}:{hasher.hexdigest()}"
    if actual != digest:
        raise DigestMismatchError(digest, actual, what=what)
    if size is not None and total != size:
        raise DigestMismatchError(digest, f"{total} bytes instead of {size}", what=what)
    if held is not None:
        yield held


class DiffIdTap:
    """Computes the sha256 of the *uncompressed* content of a gzip layer as
    its compressed bytes stream past (a schema1 layer's diff_id), in bounded
    memory. Bytes that are not gzip raise :class:`Schema1ConversionError`
    naming ``what``."""

    _OUT_LIMIT = 1 << 20

    def __init__(self, what: str = "schema1 layer") -> None:
        self.what = what
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._hasher = hashlib.sha256()
        self.size = 0
        self.seen = False
        self._result: str | None = None

    def __call__(self, chunk: bytes) -> None:
        self.seen = True
        self.size += len(chunk)
        try:
            self._inflate(chunk)
        except zlib.error as exc:
            raise Schema1ConversionError(
                f"{self.what} is not gzip data, so its diff_id cannot be computed ({exc})"
            ) from None

    def _inflate(self, chunk: bytes) -> None:
        data = chunk
        while data:
            out = self._inflater.decompress(data, self._OUT_LIMIT)
            self._hasher.update(out)
            data = self._inflater.unconsumed_tail
            if self._inflater.eof and self._inflater.unused_data:
                # concatenated gzip members: start the next one
                rest = self._inflater.unused_data
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = rest

    def diff_id(self) -> str:
        """Finish and return ``sha256:<hex>`` of the uncompressed bytes."""
        if self._result is None:
            try:
                self._hasher.update(self._inflater.flush())
            except zlib.error as exc:
                raise Schema1ConversionError(f"{self.what} is not gzip data ({exc})") from None
            self._result = "sha256:" + self._hasher.hexdigest()
        return self._result


async def pipelined(
    chunks: AsyncIterator[bytes], max_buffered: int = PIPELINE_BUFFER
) -> AsyncIterator[bytes]:
    """Read ``chunks`` in a separate task so the source download and the
    target upload overlap (instead of alternating), buffering at most about
    ``max_buffered`` bytes. Errors from the reader surface here."""
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    room = asyncio.Semaphore(max(1, max_buffered // (1 << 20)))

    async def pump() -> None:
        try:
            async for chunk in chunks:
                await room.acquire()
                queue.put_nowait(chunk)
            queue.put_nowait(None)
        except BaseException as exc:  # handed to the consumer
            queue.put_nowait(exc)

    reader = asyncio.ensure_future(pump())
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            room.release()
            yield item
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def capped(chunks: AsyncIterator[bytes], cap: int, what: str) -> AsyncIterator[bytes]:
    """``chunks`` until more than ``cap`` bytes have passed: then whatever
    is fed from them (an upload, a file) fails instead of filling the target."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise BlobTooLargeError(f"{what} sent more than {cap} bytes without declaring its size")
        yield chunk
