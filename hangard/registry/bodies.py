"""Reading a whole answer body within its cap, decoded within it too.

A registry (or anything posing as one) decides how long a body is and how
it is encoded. The cap is on the bytes hangard keeps: a ``Content-Length``
above it is refused before reading, a longer body is cut where it crosses
it, and a ``gzip``/``deflate`` body is inflated a bounded step at a time, so
a small compressed "bomb" costs at most the cap, never its expansion. Other
encodings are refused by name. Only public httpx API is used: the decoded
body replaces the answer's stream, and :meth:`httpx.Response.aread` keeps it.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable

import httpx

from hangard.errors import BodyTooLargeError, ErrorContext, RegistryError

__all__ = ["read_capped"]

#: zlib's window bits for each encoding it inflates (gzip header, zlib header)
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

TooLarge = Callable[[], BodyTooLargeError]

#: answers that have no body whatever their headers say (RFC 9110 6.4.1)
_BODILESS = frozenset({204, 304})
_EMPTY = httpx.ByteStream(b"")


class _Decoded(httpx.AsyncByteStream):
    """``inner``'s bytes, inflated when ``encoding`` says so, at most ``cap``."""

    def __init__(
        self, inner: httpx.AsyncByteStream, encoding: str, cap: int, too_large: TooLarge
    ) -> None:
        self._inner = inner
        self._inflate = zlib.decompressobj(_WBITS[encoding]) if encoding in _WBITS else None
        self._left = cap
        self._too_large = too_large

    def _keep(self, chunk: bytes) -> bytes:
        if len(chunk) > self._left:
            raise self._too_large()
        self._left -= len(chunk)
        return chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for raw in self._inner:
            if self._inflate is None:
                yield self._keep(raw)
                continue
            data = raw
            while data:
                # one more byte than may be kept: crossing the cap is seen
                out = self._inflate.decompress(data, self._left + 1)
                yield self._keep(out)
                data = self._inflate.unconsumed_tail
        if self._inflate is not None:
            yield self._keep(self._inflate.flush(self._left + 1))

    async def aclose(self) -> None:
        await self._inner.aclose()


async def read_capped(response: httpx.Response, cap: int, too_large: TooLarge) -> None:
    """Read ``response``'s body (kept as :attr:`httpx.Response.content`),
    at most ``cap`` bytes after decoding; past it ``too_large()`` is raised.

    An answer that has no body (to a HEAD, a 1xx, 204 or 304) is not read:
    its stream is closed, giving the connection back, and its content is
    empty. That is most of the requests of a steady-state sync.
    """
    status = response.status_code
    if response.request.method == "HEAD" or status in _BODILESS or status < 200:
        assert isinstance(response.stream, httpx.AsyncByteStream)
        await response.stream.aclose()
        response.stream = _EMPTY
        await response.aread()
        return
    declared = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity") and encoding not in _WBITS:
        raise RegistryError(
            f"answer body in Content-Encoding {encoding!r}, which hangard does not decode",
            ErrorContext(
                registry=response.request.url.host,
                url=str(response.request.url.copy_with(query=None)),
                status=response.status_code,
            ),
        )
    if response.request.method != "HEAD" and declared.isdigit() and int(declared) > cap:
        raise too_large()
    assert isinstance(response.stream, httpx.AsyncByteStream)
    response.stream = _Decoded(response.stream, encoding, cap, too_large)
    if encoding in _WBITS:
        # the stream now yields the inflated body: httpx must not inflate it
        # again, and the compressed length no longer describes it
        del response.headers["content-encoding"]
        if "content-length" in response.headers:
            del response.headers["content-length"]
    try:
        await response.aread()
    except zlib.error as exc:
        raise RegistryError(
            f"answer body is not valid {encoding}: {exc}",
            ErrorContext(registry=response.request.url.host, status=response.status_code),
        ) from None
