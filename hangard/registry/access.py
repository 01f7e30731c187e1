"""What a registry, rather than an HTTP server, adds to each call: the
``/v2/`` ping that settles its scheme and auth challenge, the
:class:`~hangard.registry.auth.Authenticator` and its 401 handling, the
Docker Hub rate-limit floor, and the observer of every answer.

:class:`RegistryAccess` sends through a
:class:`~hangard.registry.transport.Transport` it is given; it builds no
protocol requests (that is :mod:`hangard.registry.client`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace

import httpx

from hangard.errors import (
    AuthError,
    ErrorContext,
    Hint,
    RateLimitedError,
    RegistryError,
    TransportError,
)
from hangard.registry.auth import Authenticator, merge_scopes
from hangard.registry.challenge import Challenge, parse_challenges
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import endpoint_host
from hangard.registry.transport import Call, Transport

__all__ = ["RegistryAccess", "ResponseObserver"]

#: ``(registry, method, status, seconds)`` of every answer a registry gives,
#: ``seconds`` from sending the attempt to the answer's headers.
ResponseObserver = Callable[[str, str, int, float], None]


class _RegistryExchange:
    """One call's part in auth: the header for its scopes, and one retry
    with a fresh token (and merged scopes on ``insufficient_scope``) after a 401."""

    def __init__(self, access: RegistryAccess, registry: str, scopes: Sequence[str]) -> None:
        self._access = access
        self._registry = registry
        self._scopes = tuple(scopes)
        self._origin = access.netloc(registry)
        self._retried = False
        self._sent = 0.0

    async def authorize(self, url: httpx.URL) -> str | None:
        # credentials only to the registry itself, never to where it points us
        header = None
        if url.netloc == self._origin:
            header = await self._access.auth.header(self._registry, self._scopes)
        self._sent = self._access.now()  # the attempt goes out next
        return header

    def observe(self, response: httpx.Response) -> None:
        self._access.observe(self._registry, response, self._access.now() - self._sent)

    async def refused(self, response: httpx.Response) -> bool:
        if response.status_code != 401 or self._retried:
            return False
        self._retried = True
        auth = self._access.auth
        challenges = parse_challenges(response.headers.get("www-authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer and bearer.error == "insufficient_scope":
            self._scopes = merge_scopes((*self._scopes, *bearer.scopes))
        elif challenges and auth.challenge(self._registry) is None:
            auth.set_challenges(self._registry, challenges, str(response.request.url))
        auth.invalidate(self._registry, self._scopes)
        return True


class _PingExchange:
    """The ``/v2/`` ping: unauthenticated, observed."""

    def __init__(self, access: RegistryAccess, registry: str) -> None:
        self._access = access
        self._registry = registry
        self._sent = 0.0

    async def authorize(self, url: httpx.URL) -> str | None:
        self._sent = self._access.now()
        return None

    def observe(self, response: httpx.Response) -> None:
        self._access.observe(self._registry, response, self._access.now() - self._sent)

    async def refused(self, response: httpx.Response) -> bool:
        return False


class RegistryAccess:
    """Per-registry state over one transport: schemes, challenges, tokens,
    ``ratelimit_remaining``."""

    def __init__(
        self,
        transport: Transport,
        credentials: CredentialStore,
        *,
        on_response: ResponseObserver | None = None,
    ) -> None:
        self.transport = transport
        self.options = transport.options
        self.credentials = credentials
        self.auth = Authenticator(credentials, transport.send, clock=transport.clock)
        self.on_response = on_response
        self.ratelimit_remaining: dict[str, int] = {}
        """The last ``ratelimit-remaining`` each registry sent (Docker Hub)."""
        self._schemes: dict[str, str] = {}
        self._ping_locks: dict[str, asyncio.Lock] = {}
        self._netlocs: dict[str, bytes] = {}

    def base_url(self, registry: str) -> str:
        """``scheme://host`` the registry's API is served on."""
        opts = self.options.for_registry(registry)
        scheme = self._schemes.get(registry) or ("http" if opts.http else "https")
        return f"{scheme}://{endpoint_host(registry)}"

    def netloc(self, registry: str) -> bytes:
        """The ``host[:port]`` of :meth:`base_url`, parsed once per base URL."""
        base = self.base_url(registry)
        netloc = self._netlocs.get(base)
        if netloc is None:
            netloc = self._netlocs[base] = httpx.URL(base).netloc
        return netloc

    def challenge(self, registry: str) -> Challenge | None:
        """How the registry asked to be authenticated (``None``: it did not)."""
        return self.auth.challenge(registry)

    def now(self) -> float:
        """The transport clock's monotonic time, to time answers with."""
        return self.transport.clock.monotonic()

    def observe(self, registry: str, response: httpx.Response, seconds: float) -> None:
        remaining = response.headers.get("ratelimit-remaining")
        if remaining:
            try:
                self.ratelimit_remaining[registry] = int(remaining.split(";")[0])
            except ValueError:
                pass
        if self.on_response is not None:
            self.on_response(registry, response.request.method, response.status_code, seconds)

    def _check_ratelimit_floor(self, registry: str, image: str | None) -> None:
        """Pause pulls (GETs; HEADs are free on Docker Hub) while the
        registry's ``ratelimit-remaining`` is below the configured floor."""
        floor = self.options.for_registry(registry).ratelimit_floor
        remaining = self.ratelimit_remaining.get(registry)
        if floor is not None and remaining is not None and remaining < floor:
            raise RateLimitedError(
                f"pulls paused: ratelimit-remaining {remaining} is below the floor {floor}",
                ErrorContext(image=image, registry=registry, method="GET"),
                remedy="wait for the registry's quota window, or lower ratelimit_floor",
            )

    async def ping(self, registry: str) -> None:
        """``GET /v2/``: learn the auth challenge and the scheme that works."""
        if self.auth.knows(registry):  # every call after the first: no lock to take
            return
        lock = self._ping_locks.setdefault(registry, asyncio.Lock())
        async with lock:
            if self.auth.knows(registry):
                return
            opts = self.options.for_registry(registry)
            try:
                response = await self._ping_once(registry)
            except TransportError as exc:
                if opts.tls_verify or opts.http or exc.hint is not Hint.PLAIN_HTTP:
                    raise
                # tls_verify: false also allows plain HTTP, as skopeo does
                self._schemes[registry] = "http"
                response = await self._ping_once(registry)
            challenges = []
            if response.status_code == 401:
                challenges = parse_challenges(response.headers.get("www-authenticate", ""))
            self.auth.set_challenges(registry, challenges, str(response.url))

    async def _ping_once(self, registry: str) -> httpx.Response:
        call = Call(
            registry, "GET", f"{self.base_url(registry)}/v2/", ok=(200, 401), what="/v2/ answer"
        )
        return await self.transport.send(call, _PingExchange(self, registry))

    async def request(self, call: Call, *, scopes: Sequence[str]) -> httpx.Response:
        """One registry call needing ``scopes``; ``call.url`` is absolute or
        a path (``/v2/...``) on the registry's settled scheme and host.

        Returns answers whose status is in ``call.ok``; raises a
        :class:`~hangard.errors.RegistryError` otherwise. Non-replayable
        calls (streamed bodies) are sent once.
        """
        registry = call.registry
        try:
            await self.ping(registry)
            if call.url.startswith("/"):
                call = replace(call, url=self.base_url(registry) + call.url)
            if call.method == "GET":
                self._check_ratelimit_floor(registry, call.image)
            return await self.transport.send(call, _RegistryExchange(self, registry, scopes))
        except RegistryError as exc:
            # the ping knows no image, and a refusal of anonymous access says so
            error = self.auth.explain(exc) if isinstance(exc, AuthError) else exc
            raise error.with_context(image=call.image) from exc.__cause__
