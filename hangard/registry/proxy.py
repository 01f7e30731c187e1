"""Which requests go through a proxy: ``HTTP_PROXY``, ``HTTPS_PROXY`` and
``NO_PROXY``, read the way skopeo (Go's ``httpproxy`` package) reads them.

* ``HTTPS_PROXY`` serves https URLs (through a ``CONNECT`` tunnel, so TLS is
  still verified end to end), ``HTTP_PROXY`` serves http URLs. The upper-case
  name wins over the lower-case one. A proxy given without a scheme is
  ``http://``.
* Never proxied: ``localhost`` and loopback addresses, and every host that
  ``NO_PROXY`` lists. ``NO_PROXY`` is a comma-separated list of ``*`` (no
  proxy at all), host names (``example.com`` also covers its subdomains; a
  leading dot, ``.example.com``, covers only the subdomains), IP addresses and
  CIDR ranges, each optionally with ``:port``.

Pure: the environment is passed in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ProxySettings"]


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name.upper()) or environ.get(name.lower()) or ""
    return value.strip() or None


def _with_scheme(url: str | None) -> str | None:
    if url is None or "://" in url:
        return url
    return f"http://{url}"


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, or no port (a bare IPv6 address has
    several colons and no port)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


@dataclass(frozen=True)
class _Rule:
    """One ``NO_PROXY`` entry."""

    host: str = ""
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None
    subdomains_only: bool = False

    @classmethod
    def parse(cls, entry: str) -> _Rule | None:
        host, port = _split_port(entry.strip().lower())
        if not host:
            return None
        try:
            return cls(network=ipaddress.ip_network(host, strict=False), port=port)
        except ValueError:
            pass
        host = host.removeprefix("*")  # "*.example.com" means ".example.com"
        return cls(host=host.lstrip("."), port=port, subdomains_only=host.startswith("."))

    def matches(
        self, host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None, port: int
    ) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip is not None and ip in self.network
        if host.endswith("." + self.host):
            return True
        return host == self.host and not self.subdomains_only


@dataclass(frozen=True)
class ProxySettings:
    """The proxies to use, and the hosts that bypass them."""

    http: str | None = None
    https: str | None = None
    no_proxy_all: bool = False
    no_proxy: tuple[_Rule, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProxySettings:
        entries = [e.strip() for e in (_env(environ, "NO_PROXY") or "").split(",")]
        return cls(
            http=_with_scheme(_env(environ, "HTTP_PROXY")),
            https=_with_scheme(_env(environ, "HTTPS_PROXY")),
            no_proxy_all="*" in entries,
            no_proxy=tuple(rule for e in entries if e != "*" and (rule := _Rule.parse(e))),
        )

    def proxy_for(self, scheme: str, host: str, port: int | None) -> str | None:
        """The proxy URL for a request to ``scheme://host:port``, or None to
        connect directly."""
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or self.no_proxy_all:
            return None
        host = host.lower().strip("[]").rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            return None
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and ip.is_loopback:
            return None
        effective_port = port if port is not None else (443 if scheme == "https" else 80)
        if any(rule.matches(host, ip, effective_port) for rule in self.no_proxy):
            return None
        return proxy
