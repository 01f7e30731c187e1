"""HTTP mechanics under the registry protocol: one shared ``httpx.AsyncClient``,
TLS per registry, redirects that never leak credentials, retries with backoff,
and the translation of failures into :mod:`hangard.errors`.

Protocol logic (which URL, which scope) lives in :mod:`hangard.registry.client`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import ssl
import time
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx
import structlog

from hangard.errors import (
    AuthError,
    ErrorContext,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
    TransportTimeoutError,
)
from hangard.registry.options import ClientOptions, RegistryOptions, endpoint_host
from hangard.registry.proxy import ProxySettings

__all__ = [
    "RETRY_STATUSES",
    "build_http_client",
    "parse_error_body",
    "response_error",
    "retry_delay",
    "transport_error",
]

log = structlog.get_logger("hangard.http")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 120.0

_NOT_FOUND_CODES = {"MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"}
_AUTH_CODES = {"UNAUTHORIZED", "DENIED"}
_PLAIN_HTTP_MARKERS = (
    "wrong version number",
    "record layer failure",
    "http request",
    "packet length",
)
PROXY_REMEDY = (
    "check the proxy URL and its credentials in HTTPS_PROXY / HTTP_PROXY "
    "(http://user:password@host:port), or list the registry in NO_PROXY"
)
PLAIN_HTTP_REMEDY = (
    "set tls_verify: false for this registry, or use http:// "
    "(on the command line: --tls-verify=false or --plain-http)"
)


def _ssl_context(opts: RegistryOptions) -> ssl.SSLContext | bool:
    if not opts.tls_verify:
        return False
    ctx = ssl.create_default_context()
    if opts.ca_file:
        ctx.load_verify_locations(cafile=opts.ca_file)
    return ctx


class _Route(NamedTuple):
    """What a connection pool is specific to."""

    tls: RegistryOptions | None
    """TLS settings (only ``tls_verify`` and ``ca_file`` are set); None for
    plain HTTP."""
    proxy: str | None


class _Pools(httpx.AsyncBaseTransport):
    """Sends each request through the connection pool its origin calls for:
    one pool per (TLS settings, proxy), so registries that share settings
    share connections. Each pool is built on first use: loading the system CA
    store costs tens of milliseconds that a plain-HTTP run, or a quick
    steady-state check, should not pay."""

    def __init__(
        self,
        options: ClientOptions,
        proxies: ProxySettings,
        build: Callable[[ssl.SSLContext | bool, str | None], httpx.AsyncBaseTransport],
    ) -> None:
        self._proxies = proxies
        self._build = build
        # registries with their own TLS settings, by the origin they serve on
        self._tls = {
            endpoint_host(name): opts
            for name, opts in options.registries.items()
            if opts.ca_file or not opts.tls_verify
        }
        self._default = options.default
        self._routes: dict[tuple[str, str, int | None], _Route] = {}
        self._pools: dict[_Route, httpx.AsyncBaseTransport] = {}

    def _route(self, url: httpx.URL) -> _Route:
        origin = (url.scheme, url.host, url.port)
        route = self._routes.get(origin)
        if route is None:
            tls = None
            if url.scheme == "https":
                host = f"{url.host}:{url.port}" if url.port else url.host
                opts = self._tls.get(host) or self._tls.get(url.host) or self._default
                tls = RegistryOptions(tls_verify=opts.tls_verify, ca_file=opts.ca_file)
            route = self._routes[origin] = _Route(tls, self._proxies.proxy_for(*origin))
        return route

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        route = self._route(request.url)
        pool = self._pools.get(route)
        if pool is None:
            # plain HTTP: verify=False, as there is no TLS and no CA store to load
            verify = _ssl_context(route.tls) if route.tls else False
            pool = self._pools[route] = self._build(verify, route.proxy)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


def build_http_client(
    options: ClientOptions, proxies: ProxySettings | None = None
) -> httpx.AsyncClient:
    """The one client of the process. ``proxies`` defaults to the
    environment's ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``."""
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30)
    timeout = httpx.Timeout(
        connect=options.connect_timeout,
        read=options.read_timeout,
        write=options.read_timeout,
        pool=None,
    )

    def pool(verify: ssl.SSLContext | bool, proxy: str | None) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=verify, http2=options.http2, limits=limits, retries=0, proxy=proxy
        )

    if proxies is None:
        proxies = ProxySettings.from_environ(os.environ)
    return httpx.AsyncClient(
        transport=_Pools(options, proxies, pool),
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": options.user_agent},
    )


def parse_error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """``(code, message)`` from a registry error body, leniently."""
    try:
        raw = response.content
    except httpx.ResponseNotRead:
        return None, None
    if not raw:
        return None, None
    try:
        doc = json.loads(raw)
    except ValueError:
        text = raw[:200].decode("utf-8", "replace").strip()
        return None, text or None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return (str(first.get("code") or "") or None), (str(first.get("message") or "") or None)
    if isinstance(doc, dict) and doc.get("message"):
        return None, str(doc["message"])
    return None, None


def response_error(
    response: httpx.Response, *, registry: str, image: str | None = None
) -> ResponseError:
    """Translate an error response into the matching :class:`ResponseError`."""
    code, message = parse_error_body(response)
    status = response.status_code
    method = response.request.method
    ctx = ErrorContext(
        image=image,
        registry=registry,
        method=method,
        url=str(response.request.url.copy_with(query=None)),
        status=status,
        code=code,
        detail=message,
    )
    text = message or response.reason_phrase or f"HTTP {status}"
    writing = method in ("PUT", "POST", "PATCH", "DELETE")
    if code in _NOT_FOUND_CODES or (status == 404 and not code):
        remedy = None
        if code == "MANIFEST_UNKNOWN" and writing:
            remedy = (
                "the registry calls content unknown right after it was pushed; on Harbor this "
                "happens after deletions until garbage collection runs: run GC, then retry"
            )
        elif code == "MANIFEST_UNKNOWN" or (status == 404 and "/manifests/" in (ctx.url or "")):
            shown = image or "IMAGE"
            remedy = f"image does not exist: check with `hangard inspect --raw docker://{shown}`"
        return NotFoundError(text, ctx, remedy=remedy)
    if status in (401, 403) or code in _AUTH_CODES:
        remedy = (
            "check credentials and that the target project exists "
            "(Harbor needs the project created first)"
            if writing
            else "check the credentials for this registry (docker login, --src-creds, or the config)"
        )
        return AuthError(text, ctx, remedy=remedy)
    if status == 429 or code == "TOOMANYREQUESTS":
        return RateLimitedError(text, ctx, remedy="lower concurrency or wait for the quota window")
    if status >= 500:
        return ServerError(text, ctx)
    return ResponseError(text, ctx)


def transport_error(
    exc: Exception,
    *,
    registry: str,
    method: str,
    url: str,
    image: str | None = None,
    proxy: str | None = None,
    attempts: int = 1,
) -> TransportError:
    """``proxy``: the proxy the request went through, if any (its
    credentials are never shown); ``attempts``: how often it was tried."""
    ctx = ErrorContext(image=image, registry=registry, method=method, url=url)
    text = str(exc) or exc.__class__.__name__
    lowered = text.lower()
    if proxy is not None:
        via = f"through proxy {redact_userinfo(proxy)}"
        if isinstance(exc, httpx.ProxyError):
            return TransportError(
                f"proxy refused the request ({via}): {text}", ctx, remedy=PROXY_REMEDY
            )
        text = f"{text} ({via})"
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeoutError(f"timed out{tried}: {text}", ctx)
    if any(marker in lowered for marker in _PLAIN_HTTP_MARKERS) and url.startswith("https:"):
        return TransportError(
            "server gave HTTP response to HTTPS client", ctx, remedy=PLAIN_HTTP_REMEDY
        )
    if "certificate" in lowered:
        return TransportError(
            f"TLS verification failed: {text}",
            ctx,
            remedy="give the registry's CA with ca_file, or set tls_verify: false",
        )
    return TransportError(f"connection failed{tried}: {text}", ctx)


def redact_userinfo(url: str) -> str:
    """``url`` without ``user:password@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def retry_delay(
    attempt: int,
    response: httpx.Response | None,
    *,
    base: float,
    cap: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number ``attempt`` (1-based): ``Retry-After`` when the
    server gave one, else exponential backoff with full jitter."""
    if response is not None:
        header = response.headers.get("retry-after")
        if header:
            header = header.strip()
            if header.isdigit():
                return min(float(header), MAX_RETRY_AFTER)
            try:
                when = email.utils.parsedate_to_datetime(header).timestamp()
                return min(max(0.0, when - time.time()), MAX_RETRY_AFTER)
            except (TypeError, ValueError):
                pass
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return float(ceiling / 2 + rng() * ceiling / 2)


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def is_downgrade(src: httpx.URL, dst: httpx.URL) -> bool:
    return src.scheme == "https" and dst.scheme == "http"


async def sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def _tune_read_size() -> None:
    """Read up to 1 MiB per socket read instead of httpcore's 64 KiB: blob
    streams then cost far fewer event-loop round trips per GiB. The attribute
    is a plain class constant in httpcore; if it ever disappears this is a
    no-op."""
    try:
        from httpcore._async.http11 import AsyncHTTP11Connection
    except ImportError:  # pragma: no cover
        return
    if getattr(AsyncHTTP11Connection, "READ_NUM_BYTES", 0) < (1 << 20):
        AsyncHTTP11Connection.READ_NUM_BYTES = 1 << 20


_tune_read_size()
