"""hangard.copy.stream: bytes are verified while they pass, and the last chunk
is held back until the digest and size are known to be right."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import AsyncIterator, Sequence

import pytest

from hangard.copy.stream import DiffIdTap, pipelined, sized, verified
from hangard.errors import DigestMismatchError
from hangard.stores.feed import coalesced

DATA = bytes(range(256)) * 40  # 10 KiB, not a multiple of the chunk sizes below


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def aiter_of(chunks: Sequence[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def drain(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


async def drain_until_error(stream: AsyncIterator[bytes]) -> tuple[list[bytes], BaseException]:
    """Everything the consumer saw before the stream raised, and the error."""
    seen: list[bytes] = []
    try:
        async for chunk in stream:
            seen.append(chunk)
    except Exception as exc:
        return seen, exc
    raise AssertionError(f"stream did not fail; yielded {len(seen)} chunks")


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([DATA], id="one-chunk"),
        pytest.param(split(DATA, 1000), id="uneven-chunks"),
        pytest.param(split(DATA, 1024), id="even-chunks"),
        pytest.param(split(DATA[:7], 1), id="byte-by-byte"),
        pytest.param([b"", DATA[:10], b"", DATA[10:], b""], id="empty-chunks-between"),
    ],
)
@pytest.mark.parametrize("known_size", [True, False], ids=["sized", "unsized"])
async def test_good_content_passes_unchanged(chunks: list[bytes], known_size: bool) -> None:
    body = b"".join(chunks)
    size = len(body) if known_size else None
    out = await drain(verified(aiter_of(chunks), sha256(body), size))
    assert b"".join(out) == body
    # chunk boundaries are kept; only empty chunks are dropped
    assert out == [c for c in chunks if c]


@pytest.mark.parametrize("size", [0, None])
async def test_empty_blob(size: int | None) -> None:
    assert await drain(verified(aiter_of([]), sha256(b""), size)) == []
    assert await drain(verified(aiter_of([b"", b""]), sha256(b""), size)) == []


async def test_empty_blob_with_wrong_digest_fails() -> None:
    seen, exc = await drain_until_error(verified(aiter_of([]), sha256(b"x"), 0))
    assert seen == []
    assert isinstance(exc, DigestMismatchError)
    assert exc.actual == sha256(b"")


async def test_other_algorithms() -> None:
    digest = "sha512:" + hashlib.sha512(DATA).hexdigest()
    assert b"".join(await drain(verified(aiter_of(split(DATA, 999)), digest, len(DATA)))) == DATA


@pytest.mark.parametrize(
    ("chunks", "digest", "size", "actual"),
    [
        pytest.param(split(DATA, 1000), sha256(b"other"), len(DATA), sha256(DATA), id="digest"),
        pytest.param([DATA], sha256(b"other"), None, sha256(DATA), id="digest-unsized"),
        pytest.param(
            split(DATA, 1000),
            sha256(DATA),
            len(DATA) + 1,
            f"{len(DATA)} bytes instead of {len(DATA) + 1}",
            id="shorter-than-size",
        ),
        pytest.param(
            split(DATA, 1000),
            sha256(DATA),
            len(DATA) - 1,
            f"more than {len(DATA) - 1} bytes",
            id="longer-than-size",
        ),
    ],
)
async def test_mismatch_raises_before_the_body_is_complete(
    chunks: list[bytes], digest: str, size: int | None, actual: str
) -> None:
    seen, exc = await drain_until_error(verified(aiter_of(chunks), digest, size, what="layer"))
    assert isinstance(exc, DigestMismatchError)
    assert exc.expected == digest
    assert exc.actual == actual
    assert exc.reason == "digest_mismatch"
    assert str(exc).startswith("layer digest mismatch")
    # the consumer never holds the whole body, so an upload fed from it cannot commit
    assert len(b"".join(seen)) < len(b"".join(chunks))
    assert b"".join(chunks).startswith(b"".join(seen))


async def test_too_long_fails_as_soon_as_the_size_is_passed() -> None:
    pulled: list[bytes] = []

    async def source() -> AsyncIterator[bytes]:
        for chunk in split(DATA, 1000):
            pulled.append(chunk)
            yield chunk

    _, exc = await drain_until_error(verified(source(), sha256(DATA), 2500))
    assert isinstance(exc, DigestMismatchError)
    assert exc.actual == "more than 2500 bytes"
    # the third chunk crossed the limit; nothing after it was read
    assert len(pulled) == 3


async def test_on_chunk_sees_every_nonempty_chunk_as_it_arrives() -> None:
    chunks = [b"ab", b"", b"cde", b"f"]
    tapped: list[bytes] = []
    out = await drain(verified(aiter_of(chunks), sha256(b"abcdef"), 6, on_chunk=tapped.append))
    assert tapped == [b"ab", b"cde", b"f"]
    assert out == tapped


async def test_on_chunk_is_called_even_when_the_digest_then_fails() -> None:
    tapped: list[bytes] = []
    stream = verified(aiter_of([b"ab", b"cd"]), sha256(b"xxxx"), 4, on_chunk=tapped.append)
    seen, exc = await drain_until_error(stream)
    assert isinstance(exc, DigestMismatchError)
    assert tapped == [b"ab", b"cd"]
    assert seen == [b"ab"]


@pytest.mark.parametrize(
    "members",
    [
        pytest.param([b""], id="empty"),
        pytest.param([DATA], id="one-member"),
        pytest.param([DATA, b"second member" * 100], id="two-members"),
    ],
)
@pytest.mark.parametrize("chunk", [1, 37, 1 << 20])
def test_diff_id_tap_hashes_uncompressed_bytes(members: list[bytes], chunk: int) -> None:
    compressed = b"".join(gzip.compress(m) for m in members)
    tap = DiffIdTap()
    assert not tap.seen
    for part in split(compressed, chunk):
        tap(part)
    assert tap.seen
    assert tap.size == len(compressed)
    assert tap.diff_id() == sha256(b"".join(members))
    assert tap.diff_id() == sha256(b"".join(members))  # idempotent


def test_diff_id_tap_with_a_chunk_boundary_on_the_member_boundary() -> None:
    first, second = gzip.compress(b"first" * 100), gzip.compress(b"second" * 100)
    tap = DiffIdTap()
    tap(first)
    tap(second)
    assert tap.diff_id() == sha256(b"first" * 100 + b"second" * 100)


def test_diff_id_tap_bounded_output_for_a_highly_compressible_layer() -> None:
    plain = b"\0" * (8 << 20)  # inflates far past the tap's per-call output limit
    tap = DiffIdTap()
    tap(gzip.compress(plain))
    assert tap.diff_id() == sha256(plain)


@pytest.mark.parametrize("max_buffered", [0, 1, 3 << 20])
async def test_pipelined_keeps_order_and_content(max_buffered: int) -> None:
    chunks = split(DATA, 100)
    assert await drain(pipelined(aiter_of(chunks), max_buffered)) == chunks


async def test_pipelined_surfaces_reader_errors() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"one"
        raise DigestMismatchError("sha256:a", "sha256:b")

    seen, exc = await drain_until_error(pipelined(failing()))
    assert seen == [b"one"]
    assert isinstance(exc, DigestMismatchError)


async def test_pipelined_passes_verification_errors_through() -> None:
    stream = pipelined(verified(aiter_of(split(DATA, 1000)), sha256(b"no"), len(DATA)))
    seen, exc = await drain_until_error(stream)
    assert isinstance(exc, DigestMismatchError)
    assert len(b"".join(seen)) < len(DATA)


@pytest.mark.parametrize("piece", [1, 1000, 4096, len(DATA) + 1])
async def test_coalesced_gathers_pieces_of_at_least_the_size(piece: int) -> None:
    pieces = await drain(coalesced(aiter_of([b"", *split(DATA, 300)]), piece))
    assert b"".join(pieces) == DATA
    assert all(len(p) >= piece for p in pieces[:-1])
    assert all(len(p) < piece + 300 for p in pieces)


async def test_sized_counts_without_hashing_and_fails_on_a_wrong_size() -> None:
    seen: list[bytes] = []
    wanted = sha256(b"not checked here")
    stream = sized(aiter_of(split(DATA, 1000)), wanted, len(DATA), on_chunk=seen.append)
    assert b"".join(await drain(stream)) == DATA == b"".join(seen)
    _, exc = await drain_until_error(sized(aiter_of(split(DATA, 1000)), wanted, len(DATA) - 1))
    assert isinstance(exc, DigestMismatchError) and "more than" in str(exc)
    _, exc = await drain_until_error(sized(aiter_of(split(DATA, 1000)), wanted, len(DATA) + 1))
    assert isinstance(exc, DigestMismatchError) and "instead of" in str(exc)
