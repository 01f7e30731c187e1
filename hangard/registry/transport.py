"""Sending requests: the one retry loop of hangard, redirects that never leak
credentials, per-host limits, deadlines, and the translation of every failure
into :mod:`hangard.errors`.

A :class:`Call` says what to send and which answers are wanted; an
:class:`Exchange` lets the layer above (auth, the ``/v2/`` ping, observers:
:mod:`hangard.registry.access`) take part in each attempt. The transport
knows nothing of registries' protocol or auth flows: token-server requests
and registry requests go through the same :meth:`Transport.send`.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import structlog

from hangard.errors import (
    BodyTooLargeError,
    ErrorContext,
    RegistryError,
    ResponseError,
    TransportError,
)
from hangard.registry.bodies import read_capped
from hangard.registry.clock import SYSTEM_CLOCK, Clock
from hangard.registry.errormap import response_error, transport_error
from hangard.registry.limits import HostLimiter
from hangard.registry.options import ClientOptions
from hangard.registry.pools import build_pools
from hangard.registry.proxy import ProxySettings
from hangard.registry.retry import RETRY_STATUSES, retry_delay

__all__ = ["BODY_MAX", "ERROR_BODY_MAX", "MAX_REDIRECTS", "Call", "Exchange", "Transport"]

log = structlog.get_logger("hangard.registry")

MAX_REDIRECTS = 5
#: The default cap of an answer body read whole (the ``/v2/`` ping, token
#: replies, tag-list pages); a :class:`Call` may set its own (manifests).
BODY_MAX = 1 << 20
#: The cap of an error answer's body, whatever the call.
ERROR_BODY_MAX = 1 << 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Call:
    """One request and what counts as success.

    ``registry`` names the registry the call is for (error context and the
    per-host request slot); ``ok`` are the statuses returned rather than
    raised. A ``stream`` call returns the answer unread (the caller closes
    it) and holds its request slot until it is closed (inside a transfer,
    the transfer's slot). A call that is not ``replayable`` (a streamed body) is sent once.
    ``deadline`` (on the transport clock's monotonic time) stops retries that
    would end after it; ``limited=False`` sends without a request slot.
    A body read whole is capped *while it streams*: ``max_body`` bytes for
    an answer in ``ok`` (``what`` names it in the error), :data:`ERROR_BODY_MAX`
    for any other; past the cap a :class:`~hangard.errors.BodyTooLargeError`
    is raised and the rest is never read. Each attempt has a deadline (the
    registry's ``timeout``, else ``request_timeout``) unless it moves a
    ``blob``: a blob upload has none, a blob stream (``stream``) has one until
    its answer starts, and is then watched for progress by
    :class:`~hangard.registry.blobreader.BlobReader`.
    """

    registry: str
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: Any = None
    ok: Collection[int] = (200,)
    image: str | None = None
    stream: bool = False
    replayable: bool = True
    limited: bool = True
    deadline: float | None = None
    max_body: int = BODY_MAX
    what: str = "answer"
    blob: bool = False


class Exchange(Protocol):
    """What the layer above adds to each attempt of a :class:`Call`."""

    async def authorize(self, url: httpx.URL) -> str | None:
        """The ``Authorization`` value for this attempt, if any."""
        ...

    def observe(self, response: httpx.Response) -> None:
        """See every answer (metrics, rate-limit headers)."""
        ...

    async def refused(self, response: httpx.Response) -> bool:
        """True to send again at once (a 401 that a new token may cure)."""
        ...


class _Plain:
    """No auth, no observer: token-server calls."""

    async def authorize(self, url: httpx.URL) -> str | None:
        return None

    def observe(self, response: httpx.Response) -> None:
        return None

    async def refused(self, response: httpx.Response) -> bool:
        return False


PLAIN: Exchange = _Plain()


class Transport:
    """The process's connection pools and everything about sending on them.

    ``clock`` and ``rng`` are injectable so tests can check the retry
    schedule without waiting it out.
    """

    def __init__(
        self,
        options: ClientOptions,
        *,
        proxies: ProxySettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.options = options
        self.proxies = proxies or ProxySettings.from_environ(os.environ)
        self.clock = clock
        self._rng = rng
        self._pools = build_pools(options, self.proxies)
        self._timeouts: dict[str, dict[str, float | None]] = {}
        self.limiter = HostLimiter(
            lambda host: options.for_registry(host).max_concurrency,
            lambda host: options.for_registry(host).requests_per_second,
            clock=clock,
        )

    async def aclose(self) -> None:
        await self._pools.aclose()

    def transfer_slot(self, *registries: str) -> AbstractAsyncContextManager[None]:
        """Hold while streaming a blob between ``registries`` (see limits.py)."""
        return self.limiter.transfer(*registries)

    def backoff(
        self, attempt: int, response: httpx.Response | None = None, *, registry: str = ""
    ) -> float:
        """The delay before retry number ``attempt`` (1-based), honouring the
        ``Retry-After`` of ``response``: the one formula of hangard (with
        ``registry``'s ``retry_delay`` as its base)."""
        return retry_delay(
            attempt,
            response,
            base=self.options.backoff_base_for(registry),
            cap=self.options.backoff_cap,
            now=self.clock.time(),
            rng=self._rng,
        )

    async def send(self, call: Call, exchange: Exchange = PLAIN) -> httpx.Response:
        """Send ``call`` until it succeeds or retrying cannot help.

        Returns an answer whose status is in ``call.ok``; otherwise raises
        the :mod:`hangard.errors` class the answer or failure maps to.
        Connection failures and :data:`~hangard.registry.retry.RETRY_STATUSES`
        are retried (replayable calls only) up to ``max_attempts`` (the
        registry's ``retry_times`` + 1) with :meth:`backoff`; failures whose error carries a remedy (TLS, plain
        HTTP, proxy misconfiguration) are not, as retrying cannot cure them.
        """
        attempt = 0
        url = httpx.URL(call.url)
        while True:
            attempt += 1
            headers = {"User-Agent": self.options.user_agent, **call.headers}
            try:
                authorization = await exchange.authorize(url)
            except RegistryError as exc:  # a token fetch failed: name what it was for
                raise exc.with_context(image=call.image) from exc.__cause__
            if authorization:
                headers["Authorization"] = authorization
            try:
                response = await self._attempt(call, url, headers)
            except httpx.HTTPError as exc:
                error = self._transport_error(exc, call, attempt)
                if error.remedy is None and await self._pause(call, attempt, None):
                    continue
                raise error from exc
            exchange.observe(response)
            if call.replayable and await exchange.refused(response):
                await response.aclose()
                continue
            status = response.status_code
            if status in RETRY_STATUSES and await self._pause(call, attempt, response):
                continue
            if status in call.ok:
                return response
            raise await self._refusal(call, response)

    async def _pause(self, call: Call, attempt: int, response: httpx.Response | None) -> bool:
        """Wait before another attempt, or return False when none is due."""
        if not call.replayable or attempt >= self.options.attempts_for(call.registry):
            return False
        delay = self.backoff(attempt, response, registry=call.registry)
        if call.deadline is not None and self.clock.monotonic() + delay > call.deadline:
            return False
        log.debug(
            "retrying",
            registry=call.registry,
            method=call.method,
            status=response.status_code if response is not None else None,
            attempt=attempt,
            delay=delay,
        )
        if response is not None:
            await response.aclose()
        await self.clock.sleep(delay)
        return True

    async def _refusal(self, call: Call, response: httpx.Response) -> ResponseError:
        if call.stream:
            try:
                await _read_capped(call, response)
            finally:
                await response.aclose()
        return response_error(response, registry=call.registry, image=call.image)

    async def _attempt(self, call: Call, url: httpx.URL, headers: dict[str, str]) -> httpx.Response:
        """One attempt in a slot of the registry's host: for a stream, the
        slot is held until the answer is closed."""
        if not call.limited:
            return await self._timed(call, url, headers)
        if not call.stream:
            async with self.limiter.request(call.registry):
                return await self._timed(call, url, headers)
        release = await self.limiter.acquire(call.registry)
        try:
            response = await self._timed(call, url, headers)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, release)
        return response

    async def _timed(self, call: Call, url: httpx.URL, headers: dict[str, str]) -> httpx.Response:
        """:meth:`_follow` within the request deadline (see :class:`Call`)."""
        if call.blob and not call.stream:
            return await self._follow(call, url, headers)
        limit = self.options.request_timeout_for(call.registry)
        try:
            async with asyncio.timeout(limit):
                return await self._follow(call, url, headers)
        except TimeoutError as exc:
            raise httpx.TimeoutException(
                f"no complete answer within {limit:g} s (the request deadline)"
            ) from exc

    async def _follow(self, call: Call, url: httpx.URL, headers: dict[str, str]) -> httpx.Response:
        """Send, following redirects for GET/HEAD by hand. The credential
        belongs to the origin (scheme, host, port) of ``call.url``: every hop
        on another origin goes without ``Authorization``, whatever the hops
        before it were, and https→http is refused."""
        request = httpx.Request(
            call.method, url, headers=headers, content=call.content, extensions=self._io(call)
        )
        owner = _origin(request.url)
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._pools.handle_async_request(request)
            redirect = response.status_code in _REDIRECTS and call.method in ("GET", "HEAD")
            location = response.headers.get("location") if redirect else None
            if not location:
                if not call.stream:
                    try:
                        await _read_capped(call, response)
                    finally:
                        await response.aclose()
                return response
            await response.aclose()
            request = self._redirected(call, request, request.url.join(location), headers, owner)
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects for {call.url}")

    def _redirected(
        self,
        call: Call,
        request: httpx.Request,
        target: httpx.URL,
        headers: dict[str, str],
        owner: tuple[str, str, int | None],
    ) -> httpx.Request:
        if request.url.scheme == "https" and target.scheme == "http":
            # final: retrying cannot change it, so not an httpx error
            raise TransportError(
                "refusing redirect from https to http",
                ErrorContext(
                    image=call.image,
                    registry=call.registry,
                    method=request.method,
                    url=str(target.copy_with(query=None)),
                ),
                remedy="the registry's storage redirect must use https",
            )
        hop_headers = dict(headers)
        if _origin(target) != owner:
            for name in [n for n in hop_headers if n.lower() == "authorization"]:
                del hop_headers[name]
        return httpx.Request(request.method, target, headers=hop_headers, extensions=self._io(call))

    def _io(self, call: Call) -> dict[str, Any]:
        """The ``timeout`` extension (connect, read, write, pool) of ``call``'s requests."""
        timeouts = self._timeouts.get(call.registry)
        if timeouts is None:
            read, o = self.options.read_timeout_for(call.registry), self.options
            timeout = httpx.Timeout(o.connect_timeout, read=read, write=read, pool=o.pool_timeout)
            timeouts = self._timeouts[call.registry] = timeout.as_dict()
        return {"timeout": timeouts}

    def _transport_error(self, exc: Exception, call: Call, attempts: int) -> TransportError:
        """:func:`transport_error`, with the proxy the request went through."""
        url = httpx.URL(call.url)
        return transport_error(
            exc,
            registry=call.registry,
            method=call.method,
            url=call.url,
            image=call.image,
            proxy=self.proxies.proxy_for(url.scheme, url.host, url.port),
            attempts=attempts,
        )


class _Releasing(httpx.AsyncByteStream):
    """An answer's body that gives its request slot back when closed."""

    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._release()


async def _read_capped(call: Call, response: httpx.Response) -> None:
    """Read the body, but stop at its cap (see :class:`Call`): an endless or
    inflating body costs at most the cap (:mod:`hangard.registry.bodies`)."""
    ok = response.status_code in call.ok
    cap = call.max_body if ok else ERROR_BODY_MAX
    await read_capped(response, cap, lambda: _too_large(call, response, cap, ok))


def _too_large(call: Call, response: httpx.Response, cap: int, ok: bool) -> BodyTooLargeError:
    what = call.what if ok else f"error body (HTTP {response.status_code})"
    size = f"{cap >> 20} MiB" if cap % (1 << 20) == 0 else f"{cap} bytes"
    return BodyTooLargeError(
        f"{what} larger than {size}; stopped reading it",
        ErrorContext(
            image=call.image,
            registry=call.registry,
            method=response.request.method,
            url=str(response.request.url.copy_with(query=None)),
            status=response.status_code,
        ),
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """``(scheme, host, port)``, the port spelled out when it is the default."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port)
