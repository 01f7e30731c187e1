"""aiohttp's failures as the httpx exceptions they are.

The ``httpx-aiohttp`` transport raises an httpx exception ``from`` each
aiohttp one, but maps every connection failure to ``ConnectTimeout`` (a
refused connection, an untrusted certificate, a server hanging up) and lets
some aiohttp errors through unmapped (a malformed answer). An exception
raised by a streamed request body (a digest mismatch, the source of a blob
failing) reaches us wrapped in aiohttp's "failed to send bytes", and is
unwrapped: the caller sees its own error, as with httpx's default transport.
The pools
(:mod:`hangard.registry.pools`) pass every failure through :func:`translated`,
so the transport and :mod:`hangard.registry.errormap` see httpx's own
classes, as they would from httpx's default transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Literal

import aiohttp
import httpx

__all__ = ["TranslatingStream", "translated"]

#: aiohttp class → httpx class, the most specific first.
_CLASSES: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.NetworkError),
)


class _Translated:
    """:func:`translated`'s context manager: a class, as a generator-based one
    costs a generator and two frames on every request."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if isinstance(exc, httpx.TransportError | aiohttp.ClientError):
            _raise_translated(exc)
        return False


def _raise_translated(exc: httpx.TransportError | aiohttp.ClientError) -> None:
    """Raise what ``exc`` stands for, or return to let it pass unchanged."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if not isinstance(cause, aiohttp.ClientError):
        return
    body = cause.__cause__
    if type(cause) is aiohttp.ClientConnectionError and not isinstance(body, OSError | None):
        # the request body's own failure (a digest mismatch, the source of a
        # streamed blob failing), which aiohttp wraps: it is the error
        raise body from body.__cause__
    kind = next(k for a, k in _CLASSES if isinstance(cause, a))
    raise kind(str(cause) or cause.__class__.__name__) from cause


_TRANSLATED = _Translated()


def translated() -> AbstractContextManager[None]:
    """Re-raise a failure of the transport (an httpx exception whose cause
    is aiohttp's, or aiohttp's own) as the httpx exception it stands for,
    ``from`` the aiohttp error; anything else passes unchanged."""
    return _TRANSLATED


class TranslatingStream(httpx.AsyncByteStream):
    """An answer body whose read failures come out :func:`translated`."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with translated():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with translated():
            await self._inner.aclose()
