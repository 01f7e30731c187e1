"""Connection pools: one httpx transport per process that routes each
request to a pool per (TLS settings, proxy), built on first use.

TLS per registry origin (:mod:`hangard.registry.tls` reads the certificates
and builds the SSL context) and the proxy of each origin
(:mod:`hangard.registry.proxy`) are settled here; what is sent, and how often,
is :mod:`hangard.registry.transport`'s business.

Each pool is an ``httpx-aiohttp`` transport: httpx stays the API, aiohttp's
C parser and connection pool do the work, at a fifth of httpcore's CPU per
request (``bench/head_cpu.py``). It speaks HTTP/1.1 only. The transport
(:mod:`hangard.registry.transport`) sends on it directly, without an
``httpx.AsyncClient``: it follows redirects and sets timeouts itself, and the
client's per-request URL merging and cookie bookkeeping cost a fifth of the
CPU of a request; cookies are kept by each pool's aiohttp session instead.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import NamedTuple

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AiohttpResponseStream

from hangard.registry.aiofailures import TranslatingStream, translated
from hangard.registry.options import ClientOptions, RegistryOptions, endpoint_host
from hangard.registry.proxy import ProxySettings
from hangard.registry.tls import TlsSettings, ssl_context

__all__ = ["build_pools"]


class _Route(NamedTuple):
    """What a connection pool is specific to."""

    tls: TlsSettings | None
    """None for plain HTTP."""
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
            if opts.ca_file or not opts.tls_verify or opts.cert_dir or opts.client_cert
        }
        self._default = options.default
        self._roots = options.certs_d_roots
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
                tls = _tls_settings(host, opts, self._roots)
            route = self._routes[origin] = _Route(tls, self._proxies.proxy_for(*origin))
        return route

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        route = self._route(request.url)
        pool = self._pools.get(route)
        if pool is None:
            # plain HTTP: verify=False, as there is no TLS and no CA store to load
            verify = ssl_context(route.tls) if route.tls else False
            pool = self._pools[route] = self._build(verify, route.proxy)
        with translated():
            response = await pool.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = TranslatingStream(response.stream)
        return response

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


def _tls_settings(origin: str, opts: RegistryOptions, roots: tuple[str, ...]) -> TlsSettings:
    return TlsSettings.resolve(
        origin,
        verify=opts.tls_verify,
        ca_file=opts.ca_file,
        cert_dir=opts.cert_dir,
        client_cert=opts.client_cert,
        client_key=opts.client_key,
        roots=roots,
    )


def _aiohttp_pool(
    verify: ssl.SSLContext | bool, proxy: str | None, limits: httpx.Limits
) -> AiohttpTransport:
    """One pool: an aiohttp session with the TLS context of its route (False:
    plain HTTP, or no verification), its cookies (for any host, IP addresses
    too) and no decompression (httpx decodes; blobs stay raw)."""

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=verify, limit=limits.max_connections or 0, keepalive_timeout=limits.keepalive_expiry
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            auto_decompress=False,
            read_bufsize=_READ_BUFFER,
        )

    # verify=False: the transport's own context is unused (the session has
    # ours), and building a verifying one would load the CA store for nothing
    return AiohttpTransport(
        verify=False, client=session, proxy=httpx.Proxy(proxy) if proxy else None
    )


def build_pools(
    options: ClientOptions, proxies: ProxySettings | None = None
) -> httpx.AsyncBaseTransport:
    """The one transport of the process. ``proxies`` defaults to the
    environment's ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``."""
    limits = httpx.Limits(max_connections=256, keepalive_expiry=30)

    def pool(verify: ssl.SSLContext | bool, proxy: str | None) -> httpx.AsyncBaseTransport:
        return _aiohttp_pool(verify, proxy, limits)

    if proxies is None:
        proxies = ProxySettings.from_environ(os.environ)
    return _Pools(options, proxies, pool)


#: aiohttp's read buffer, and the largest chunk an answer body is handed on
#: in: blob streams then cost far fewer event-loop round trips per GiB than
#: in the 16 KiB chunks httpx-aiohttp reads by default.
_READ_BUFFER = 1 << 20
AiohttpResponseStream.CHUNK_SIZE = _READ_BUFFER
