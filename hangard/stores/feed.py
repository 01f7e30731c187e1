"""Feeding a byte stream to a writer: chunks coalesced to a size worth a
thread hop (:func:`coalesced`), and read ahead in a task so receiving goes
on while the writer works (:func:`pipelined`), both in bounded memory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator

__all__ = ["FEED_CHUNK", "PIPELINE_BUFFER", "coalesced", "pipelined"]

#: What :func:`coalesced` gathers before handing on: one thread hop a MiB.
FEED_CHUNK = 1 << 20
#: Bytes buffered between the source reader and the target writer.
PIPELINE_BUFFER = 8 << 20


async def coalesced(chunks: AsyncIterable[bytes], size: int = FEED_CHUNK) -> AsyncIterator[bytes]:
    """``chunks`` joined into pieces of at least ``size`` bytes (the last
    one shorter); a chunk already that big passes as it is."""
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield pending[0] if len(pending) == 1 else b"".join(pending)
            pending, held = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else b"".join(pending)


async def pipelined(
    chunks: AsyncIterator[bytes], max_buffered: int = PIPELINE_BUFFER
) -> AsyncIterator[bytes]:
    """Read ``chunks`` in a separate task so the source download and the
    target write overlap (instead of alternating), buffering at most about
    ``max_buffered`` bytes (in chunks of about a MiB). Errors from the
    reader surface here."""
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
