"""Chunks of a chunked upload: exact sizes, replayable, droppable."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hangard.registry.chunks import Chunk, chunks_of


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def joined(chunk: Chunk) -> bytes:
    return b"".join([piece async for piece in chunk])


@pytest.mark.parametrize("size", [1, 3, 4, 7, 100])
async def test_chunks_have_the_chunk_size_and_keep_the_bytes(size: int) -> None:
    data = [b"abcd", b"", b"ef", b"ghijklm", b"n"]
    got = [await joined(c) async for c in chunks_of(pieces(*data), size)]

    assert b"".join(got) == b"".join(data)
    assert all(len(c) == size for c in got[:-1])
    assert 0 < len(got[-1]) <= size


async def test_a_chunk_replays_and_drops_what_the_registry_has() -> None:
    chunk = Chunk()
    for part in (b"abc", b"defg", b"h"):
        chunk.append(part)

    assert await joined(chunk) == await joined(chunk) == b"abcdefgh"
    chunk.drop(4)
    assert (len(chunk), await joined(chunk)) == (4, b"efgh")
    chunk.clear()
    assert (len(chunk), await joined(chunk)) == (0, b"")
