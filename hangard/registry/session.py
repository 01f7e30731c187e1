"""HTTP mechanics under the registry protocol, per registry: the ``/v2/``
ping and its challenge, authentication, per-host limits, retries with
backoff, redirects that never leak credentials, the rate-limit floor, and
the translation of failures into :mod:`hangard.errors`.

:class:`RegistrySession` knows nothing of manifests or blobs; the protocol
calls live in :class:`hangard.registry.client.RegistryClient`, which builds
one request each and sends it through :meth:`RegistrySession._request`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx
import structlog

from hangard.errors import ErrorContext, RateLimitedError, TransportError
from hangard.registry.auth import Authenticator, merge_scopes
from hangard.registry.challenge import parse_challenges
from hangard.registry.credentials import CredentialStore
from hangard.registry.http import (
    MAX_REDIRECTS,
    PLAIN_HTTP_REMEDY,
    RETRY_STATUSES,
    build_http_client,
    is_downgrade,
    response_error,
    retry_delay,
    same_origin,
    transport_error,
)
from hangard.registry.limits import HostLimiter
from hangard.registry.options import ClientOptions, endpoint_host
from hangard.registry.proxy import ProxySettings

__all__ = ["RegistrySession", "ResponseObserver"]

log = structlog.get_logger("hangard.registry")

_REDIRECTS = {301, 302, 303, 307, 308}

ResponseObserver = Callable[[str, str, int], None]


class RegistrySession:
    """One shared ``httpx.AsyncClient`` and everything around each request."""

    def __init__(
        self,
        options: ClientOptions | None = None,
        credentials: CredentialStore | None = None,
        *,
        on_response: ResponseObserver | None = None,
    ) -> None:
        self.options = options or ClientOptions()
        self.proxies = ProxySettings.from_environ(os.environ)
        self._http = build_http_client(self.options, self.proxies)
        self._auth = Authenticator(credentials or CredentialStore(), self._send_plain)
        self._limiter = HostLimiter(
            lambda host: self.options.for_registry(host).max_concurrency,
            lambda host: self.options.for_registry(host).requests_per_second,
        )
        self._schemes: dict[str, str] = {}
        self._ping_locks: dict[str, asyncio.Lock] = {}
        self.on_response = on_response
        self.ratelimit_remaining: dict[str, int] = {}

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ mechanics

    def transfer_slot(self, *registries: str) -> Any:
        """Hold while streaming a blob between ``registries`` (see limits.py)."""
        return self._limiter.transfer(*registries)

    def _transport_error(
        self,
        exc: Exception,
        registry: str,
        method: str,
        url: str,
        *,
        image: str | None = None,
        attempts: int = 1,
    ) -> TransportError:
        """:func:`transport_error`, with the proxy the request went through."""
        parsed = httpx.URL(url)
        return transport_error(
            exc,
            registry=registry,
            method=method,
            url=url,
            image=image,
            proxy=self.proxies.proxy_for(parsed.scheme, parsed.host, parsed.port),
            attempts=attempts,
        )

    def base_url(self, registry: str) -> str:
        opts = self.options.for_registry(registry)
        scheme = self._schemes.get(registry) or ("http" if opts.http else "https")
        return f"{scheme}://{endpoint_host(registry)}"

    @staticmethod
    def _url(registry: str, path: str) -> str:
        """An API path; :meth:`_request` puts the scheme and host in front
        once the ping has settled which scheme works."""
        return f"/v2/{path}"

    async def _send_plain(self, request: httpx.Request) -> httpx.Response:
        """Send with retries but without registry auth (token server calls)."""
        for attempt in range(1, self.options.max_attempts + 1):
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                if attempt >= self.options.max_attempts:
                    raise self._transport_error(
                        exc, request.url.host, request.method, str(request.url), attempts=attempt
                    ) from exc
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.options.max_attempts:
                await asyncio.sleep(self._backoff(attempt, response))
                continue
            return response
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        return retry_delay(
            attempt, response, base=self.options.backoff_base, cap=self.options.backoff_cap
        )

    async def _send_following(
        self, method: str, url: str, headers: dict[str, str], content: Any, *, stream: bool
    ) -> httpx.Response:
        """Send, following redirects for GET/HEAD by hand: ``Authorization`` is
        dropped when the origin changes, and https→http is refused."""
        request = self._http.build_request(method, url, headers=headers, content=content)
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._http.send(request, stream=True)
            location = response.headers.get("location")
            if (
                response.status_code not in _REDIRECTS
                or not location
                or method not in ("GET", "HEAD")
            ):
                if not stream:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                return response
            await response.aclose()
            target = request.url.join(location)
            if is_downgrade(request.url, target):
                # final: retrying cannot change it, so not an httpx error
                raise TransportError(
                    "refusing redirect from https to http",
                    ErrorContext(method=method, url=str(target)),
                    remedy="the registry's storage redirect must use https",
                )
            hop_headers = dict(headers)
            if not same_origin(request.url, target):
                hop_headers.pop("Authorization", None)
            request = self._http.build_request(method, target, headers=hop_headers)
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects for {url}")

    def _observe(self, registry: str, method: str, response: httpx.Response) -> None:
        remaining = response.headers.get("ratelimit-remaining")
        if remaining:
            try:
                self.ratelimit_remaining[registry] = int(remaining.split(";")[0])
            except ValueError:
                pass
        if self.on_response is not None:
            self.on_response(registry, method, response.status_code)

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
        lock = self._ping_locks.setdefault(registry, asyncio.Lock())
        async with lock:
            if self._auth.knows(registry):
                return
            opts = self.options.for_registry(registry)
            try:
                response = await self._ping_once(registry)
            except TransportError as exc:
                if opts.tls_verify or opts.http or exc.remedy != PLAIN_HTTP_REMEDY:
                    raise
                # tls_verify: false also allows plain HTTP, as skopeo does
                self._schemes[registry] = "http"
                response = await self._ping_once(registry)
            if response.status_code == 401:
                header = response.headers.get("www-authenticate", "")
                self._auth.set_challenges(registry, parse_challenges(header), str(response.url))
            elif response.status_code == 200:
                self._auth.set_challenges(registry, [], str(response.url))
            else:
                raise response_error(response, registry=registry)

    async def _ping_once(self, registry: str) -> httpx.Response:
        url = f"{self.base_url(registry)}/v2/"
        for attempt in range(1, self.options.max_attempts + 1):
            try:
                async with self._limiter.request(registry):
                    response = await self._send_following("GET", url, {}, None, stream=False)
            except httpx.HTTPError as exc:
                err = self._transport_error(exc, registry, "GET", url, attempts=attempt)
                # a remedy means misconfiguration (plain HTTP, untrusted
                # certificate): retrying cannot help
                if err.remedy is not None or attempt >= self.options.max_attempts:
                    raise err from exc
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            self._observe(registry, "GET", response)
            if response.status_code in RETRY_STATUSES and attempt < self.options.max_attempts:
                await asyncio.sleep(self._backoff(attempt, response))
                continue
            return response
        raise AssertionError("unreachable")

    async def _request(
        self,
        registry: str,
        method: str,
        url: str,
        *,
        scopes: Sequence[str],
        headers: dict[str, str] | None = None,
        content: Any = None,
        image: str | None = None,
        ok: Iterable[int] = (200,),
        stream: bool = False,
        replayable: bool = True,
    ) -> httpx.Response:
        """One registry call with auth, limits, retries and error translation.

        Returns responses whose status is in ``ok``; raises a
        :class:`~hangard.errors.RegistryError` otherwise. Non-replayable
        requests (streamed bodies) are never retried here.
        """
        await self.ping(registry)
        if url.startswith("/"):
            url = self.base_url(registry) + url
        if method == "GET":
            self._check_ratelimit_floor(registry, image)
        accepted = set(ok)
        want_scopes = tuple(scopes)
        auth_retried = False
        attempt = 0
        registry_origin = httpx.URL(self.base_url(registry)).netloc
        while True:
            attempt += 1
            sent_headers = dict(headers or {})
            if httpx.URL(url).netloc == registry_origin:
                authorization = await self._auth.header(registry, want_scopes)
                if authorization:
                    sent_headers["Authorization"] = authorization
            try:
                if stream:
                    response = await self._send_following(
                        method, url, sent_headers, content, stream=True
                    )
                else:
                    async with self._limiter.request(registry):
                        response = await self._send_following(
                            method, url, sent_headers, content, stream=False
                        )
            except httpx.HTTPError as exc:
                if replayable and attempt < self.options.max_attempts:
                    await asyncio.sleep(self._backoff(attempt, None))
                    continue
                raise self._transport_error(
                    exc, registry, method, url, image=image, attempts=attempt
                ) from exc
            self._observe(registry, method, response)
            status = response.status_code
            if status == 401 and not auth_retried and replayable:
                auth_retried = True
                challenges = parse_challenges(response.headers.get("www-authenticate", ""))
                bearer = next((c for c in challenges if c.scheme == "bearer"), None)
                if bearer and bearer.error == "insufficient_scope":
                    want_scopes = merge_scopes((*want_scopes, *bearer.scopes))
                elif challenges and self._auth.challenge(registry) is None:
                    self._auth.set_challenges(registry, challenges, url)
                self._auth.invalidate(registry, want_scopes)
                await response.aclose()
                continue
            if status in RETRY_STATUSES and replayable and attempt < self.options.max_attempts:
                delay = self._backoff(attempt, response)
                log.debug("retrying", registry=registry, method=method, status=status, delay=delay)
                await response.aclose()
                await asyncio.sleep(delay)
                continue
            if status in accepted:
                return response
            if stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            raise response_error(response, registry=registry, image=image)
