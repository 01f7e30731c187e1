"""Connection pools: one ``httpx.AsyncClient`` per process whose requests
are routed to a pool per (TLS settings, proxy), built on first use.

TLS per registry origin (:mod:`hangard.registry.tls` reads the certificates
and builds the SSL context) and the proxy of each origin
(:mod:`hangard.registry.proxy`) are settled here; what is sent, and how often,
is :mod:`hangard.registry.transport`'s business.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import NamedTuple

import httpx

from hangard.registry.options import ClientOptions, RegistryOptions, endpoint_host
from hangard.registry.proxy import ProxySettings
from hangard.registry.tls import TlsSettings, ssl_context

__all__ = ["build_http_client"]


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
        return await pool.handle_async_request(request)

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
        pool=options.pool_timeout,
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
