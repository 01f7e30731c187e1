"""Verifying byte streams: hash as the bytes pass, and fail before the last
chunk leaves when the content does not match its digest, so an upload fed
from the stream is never committed."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import AsyncIterator, Callable

from hangard.errors import BlobTooLargeError, DigestMismatchError, Schema1ConversionError
from hangard.stores.feed import PIPELINE_BUFFER, pipelined

__all__ = ["PIPELINE_BUFFER", "DiffIdTap", "capped", "pipelined", "sized", "verified"]


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


async def sized(
    chunks: AsyncIterator[bytes],
    digest: str,
    size: int | None,
    *,
    on_chunk: Callable[[bytes], None] | None = None,
    what: str = "blob",
) -> AsyncIterator[bytes]:
    """``chunks`` for a target that hashes them itself and refuses a blob
    that does not match its digest (see
    :class:`~hangard.stores.base.VerifyingWrites`): only the size is checked
    here, failing at the first byte too many and, when the body is short,
    before the stream ends (so before the target can commit)."""
    total = 0
    async for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        if size is not None and total > size:
            raise DigestMismatchError(digest, f"more than {size} bytes", what=what)
        if on_chunk is not None:
            on_chunk(chunk)
        yield chunk
    if size is not None and total != size:
        raise DigestMismatchError(digest, f"{total} bytes instead of {size}", what=what)


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


async def capped(chunks: AsyncIterator[bytes], cap: int, what: str) -> AsyncIterator[bytes]:
    """``chunks`` until more than ``cap`` bytes have passed: then whatever
    is fed from them (an upload, a file) fails instead of filling the target."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise BlobTooLargeError(f"{what} sent more than {cap} bytes without declaring its size")
        yield chunk
