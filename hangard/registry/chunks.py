"""The bodies of a chunked upload's ``PATCH`` requests, in bounded memory.

A chunk is the pieces of the source stream as they arrived, never joined
into one big ``bytes``: joining costs a second copy, and a 16 MiB ``bytes``
caught in a reference cycle (a response keeps its request, and the request
its content) stays alive until the garbage collector runs, so a few dozen of
them add up to hundreds of MiB. The pieces are dropped as soon as the
registry has taken them, and a chunk is replayable (each ``async for`` starts
again), so a retried ``PATCH`` sends it again. A chunk holds at most the
chunk size, as some registries insist.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import httpx

from hangard.registry.paths import location_url

__all__ = ["Chunk", "Upload", "UploadSession", "chunks_of", "upload_offset"]


class UploadSession(Protocol):
    """Where an upload stands: its newest ``Location``, which is the one to
    ``DELETE`` when the upload is given up."""

    location: str


@dataclass
class Upload:
    """The plain :class:`UploadSession`."""

    location: str


class Chunk:
    """Consecutive bytes of an upload, as a list of pieces."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, piece: bytes) -> None:
        self._pieces.append(piece)
        self._size += len(piece)

    def drop(self, count: int) -> None:
        """Forget the first ``count`` bytes (the registry already has them)."""
        while count > 0 and self._pieces:
            first = self._pieces[0]
            if len(first) <= count:
                self._pieces.pop(0)
                count -= len(first)
                self._size -= len(first)
            else:
                self._pieces[0] = first[count:]
                self._size -= count
                count = 0

    def clear(self) -> None:
        self._pieces.clear()
        self._size = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        for piece in list(self._pieces):
            yield piece


async def chunks_of(body: AsyncIterable[bytes], size: int) -> AsyncIterator[Chunk]:
    """``body`` regrouped into chunks of exactly ``size`` bytes (the last one
    may be shorter); a piece that straddles two chunks is split. The consumer
    may :meth:`Chunk.clear` each one."""
    chunk = Chunk()
    async for piece in body:
        while piece:
            room = size - len(chunk)
            chunk.append(piece[:room] if len(piece) > room else piece)
            piece = piece[room:] if len(piece) > room else b""
            if len(chunk) >= size:
                yield chunk
                chunk = Chunk()
    if len(chunk):
        yield chunk


def upload_offset(status: httpx.Response, location: str) -> tuple[int, str]:
    """Where an upload stands, from the answer to a ``GET`` of its
    Location: the next offset, and the newest Location."""
    rng = status.headers.get("range", "0-0")
    offset = int(rng.split("-")[-1]) + 1 if rng != "0-0" else 0
    newest = status.headers.get("location")
    return offset, location_url(status.request.url, newest) if newest else location
