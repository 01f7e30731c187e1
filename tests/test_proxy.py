"""hangard behind an HTTP proxy: ``HTTPS_PROXY``, ``HTTP_PROXY`` and
``NO_PROXY``, read the way skopeo reads them.

The proxy (:mod:`tests.harness.forwardproxy`) is a real one: ``CONNECT``
tunnels and forwarded requests. It resolves every name to 127.0.0.1, so a
registry addressed as ``registry.test:PORT`` is reachable only through it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hangard.registry.errormap import transport_error
from hangard.registry.proxy import ProxySettings
from tests.conftest import RegistryFactory
from tests.harness import images
from tests.harness.forwardproxy import ForwardProxy
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard, Run

P = "http://proxy.corp:3128"
PLAIN = ("--src-plain-http", "--dest-plain-http")


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({"HTTPS_PROXY": P}, "https://reg.example.com", P),
        ({"https_proxy": P}, "https://reg.example.com:5000", P),
        ({"HTTPS_PROXY": "proxy.corp:3128"}, "https://reg.example.com", P),
        ({"HTTPS_PROXY": P, "https_proxy": "http://other:1"}, "https://r.example.com", P),
        # https does not fall back to HTTP_PROXY, nor http to HTTPS_PROXY (as in Go)
        ({"HTTP_PROXY": P}, "https://reg.example.com", None),
        ({"HTTPS_PROXY": P}, "http://reg.example.com", None),
        ({"HTTP_PROXY": P}, "http://reg.example.com", P),
        # loopback and localhost never go through a proxy
        ({"HTTPS_PROXY": P, "HTTP_PROXY": P}, "http://127.0.0.1:5000", None),
        ({"HTTPS_PROXY": P}, "https://localhost:5000", None),
        ({"HTTPS_PROXY": P}, "https://[::1]:5000", None),
        # NO_PROXY forms
        ({"HTTPS_PROXY": P, "NO_PROXY": "*"}, "https://reg.example.com", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://example.com", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://reg.example.com", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://badexample.com", P),
        ({"HTTPS_PROXY": P, "NO_PROXY": ".example.com"}, "https://example.com", P),
        ({"HTTPS_PROXY": P, "NO_PROXY": ".example.com"}, "https://a.example.com", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "*.example.com"}, "https://a.example.com", None),
        ({"HTTPS_PROXY": P, "no_proxy": " foo, Reg.Example.com "}, "https://reg.example.com", None),
        (
            {"HTTPS_PROXY": P, "NO_PROXY": "reg.example.com:5000"},
            "https://reg.example.com:5000",
            None,
        ),
        ({"HTTPS_PROXY": P, "NO_PROXY": "reg.example.com:5000"}, "https://reg.example.com", P),
        ({"HTTPS_PROXY": P, "NO_PROXY": "reg.example.com:443"}, "https://reg.example.com", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "https://10.1.2.3", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "https://11.1.2.3", P),
        ({"HTTPS_PROXY": P, "NO_PROXY": "192.168.1.5"}, "https://192.168.1.5:5000", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "fd00::/8"}, "https://[fd00::1]", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "[fd00::1]:5000"}, "https://[fd00::1]:5000", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "[fd00::1]:5000"}, "https://[fd00::1]", P),
        ({}, "https://reg.example.com", None),
    ],
)
def test_which_requests_go_through_the_proxy(
    env: dict[str, str], url: str, expected: str | None
) -> None:
    u = httpx.URL(url)
    assert ProxySettings.from_environ(env).proxy_for(u.scheme, u.host, u.port) == expected


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    p = ForwardProxy(credentials=("squid", "s3cret:pw"))
    yield p
    p.stop()


def _push(registry: Registry) -> images.Index:
    return images.push_oci_index(registry, "app", "v1", seed=11)


def _copy(hangard: Hangard, src: str, dst: str, *flags: str) -> Run:
    """``hangard copy --all`` of ``SRC/app:v1`` to ``DST/mirror/app:v1``."""
    return hangard(
        "copy", "--all", *flags, f"docker://{src}/app:v1", f"docker://{dst}/mirror/app:v1"
    )


def test_copy_through_an_https_proxy_with_credentials(
    registry_factory: RegistryFactory, proxy: ForwardProxy, hangard: Hangard
) -> None:
    names = ("127.0.0.1", "localhost", "registry.test")
    src = registry_factory("tls", hostnames=names)
    dst = registry_factory("tls", hostnames=names)
    index = _push(src)
    assert src.ca_file is not None
    behind_proxy = hangard.with_env(HTTPS_PROXY=proxy.url.replace("://", "://squid:s3cret%3Apw@"))

    run = _copy(
        behind_proxy,
        f"registry.test:{src.port}",
        f"registry.test:{dst.port}",
        *("--src-ca-file", src.ca_file, "--dest-ca-file", src.ca_file),
    )

    assert run.code == 0, run.err
    assert images.get_manifest_raw(dst, "mirror/app", "v1") == index.manifest
    tunnels = {target for method, target in proxy.seen if method == "CONNECT"}
    assert tunnels == {f"registry.test:{src.port}", f"registry.test:{dst.port}"}
    assert "s3cret" not in run.err + run.out


def test_plain_http_registries_through_http_proxy(
    plain_registry: Registry, plain_registry2: Registry, proxy: ForwardProxy, hangard: Hangard
) -> None:
    index = _push(plain_registry)
    behind_proxy = hangard.with_env(HTTP_PROXY=proxy.url.replace("://", "://squid:s3cret%3Apw@"))

    run = _copy(
        behind_proxy,
        f"registry.test:{plain_registry.port}",
        f"registry.test:{plain_registry2.port}",
        *PLAIN,
    )

    assert run.code == 0, run.err
    assert images.get_manifest_raw(plain_registry2, "mirror/app", "v1") == index.manifest
    assert any(
        t.startswith(f"http://registry.test:{plain_registry.port}/v2/") for _, t in proxy.seen
    )
    assert any(
        t.startswith(f"http://registry.test:{plain_registry2.port}/v2/") for _, t in proxy.seen
    )


def test_loopback_registries_bypass_the_proxy(
    plain_registry: Registry, plain_registry2: Registry, proxy: ForwardProxy, hangard: Hangard
) -> None:
    """With a proxy set, loopback addresses and ``localhost`` are still
    reached directly (as in skopeo): the proxy sees nothing. (``NO_PROXY``
    forms are covered by the table above: any other name could only be
    reached here through the proxy.)"""
    index = _push(plain_registry)
    behind_proxy = hangard.with_env(HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url)

    run = _copy(behind_proxy, plain_registry.host, f"localhost:{plain_registry2.port}", *PLAIN)

    assert run.code == 0, run.err
    assert images.get_manifest_raw(plain_registry2, "mirror/app", "v1") == index.manifest
    assert proxy.seen == []


def test_wrong_proxy_credentials_fail_with_the_proxy_status(
    tls_registry: Registry, proxy: ForwardProxy, hangard: Hangard
) -> None:
    _push(tls_registry)
    assert tls_registry.ca_file is not None
    behind_proxy = hangard.with_env(HTTPS_PROXY=proxy.url.replace("://", "://squid:wrong@"))

    run = behind_proxy(
        "inspect",
        "--ca-file",
        tls_registry.ca_file,
        f"docker://registry.test:{tls_registry.port}/app:v1",
    )

    assert run.code == 1
    assert f"proxy refused the request (through proxy {proxy.url}): 407" in run.err
    assert "HTTPS_PROXY" in run.err  # the remedy
    assert "wrong" not in run.err


def test_connection_errors_name_the_proxy_without_its_credentials() -> None:
    err = transport_error(
        httpx.ConnectError("All connection attempts failed"),
        registry="reg.example.com",
        method="GET",
        url="https://reg.example.com/v2/",
        proxy="http://squid:pw@proxy.corp:3128",
    )

    assert str(err).startswith(
        "connection failed: All connection attempts failed (through proxy http://proxy.corp:3128)"
    )
    assert "pw" not in str(err)
