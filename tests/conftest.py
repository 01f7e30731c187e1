"""Shared fixtures: real docker-registry processes, a token server, the fault
proxy, isolated creds, a hangard client and the ``hangard`` CLI runner.

Registries start in ~30 ms, so every registry fixture is function-scoped: each
test gets fresh storage and a fresh log.  All fixtures stop their processes at
teardown, also when the test fails; a session finaliser stops stragglers.

Fixtures (``Registry`` is :class:`tests.harness.registry.Registry`):

* ``registry_ca`` (session) -> ``trustme.CA`` used for the TLS variants;
* ``plain_registry``, ``plain_registry2`` -> two independent plain-HTTP registries;
* ``tls_registry`` -> HTTPS, no auth (``ca_file`` set);
* ``basic_registry`` -> htpasswd basic auth, plain HTTP (alice / alice-secret);
* ``token_server`` -> :class:`TokenServer` with users ``alice`` (everything) and
  ``reader`` (pull only), anonymous pull allowed, ``expires_in=300``;
* ``token_registry`` -> bearer-token registry using ``token_server``; its
  ``username``/``password`` are alice's;
* ``schema1_registry`` -> plain HTTP with schema1 PUTs enabled;
* ``client`` -> a hangard :class:`RegistryClient` for ``plain_registry`` and
  ``plain_registry2`` (fast backoff, closed at teardown);
* ``registry_factory`` -> ``make(kind, **kw) -> Registry`` (started, cleaned up),
  ``kind`` in plain|tls|basic|token|schema1; ``token`` needs ``token_server=``;
* ``token_server_factory`` -> ``make(**kw) -> TokenServer`` (started, cleaned up);
* ``fault_proxy`` -> ``make(registry, ssl_context=None) -> FaultProxy``: the
  deliberate fake of :mod:`tests.harness.faults` in front of ``registry``
  (started, stopped at teardown);
* ``tmp_authfile`` -> :class:`AuthFiles`: empty docker config + containers auth
  file, with ``DOCKER_CONFIG``, ``REGISTRY_AUTH_FILE``, ``XDG_RUNTIME_DIR``,
  ``XDG_CONFIG_HOME`` and ``HOME`` pointed at temp dirs;
* ``hangard`` -> :class:`tests.helpers_cli.Hangard`: ``hangard(*args) -> Run``
  runs ``python -m hangard`` in a subprocess that only sees ``tmp_authfile``'s
  credentials, with its own state dir and an empty working directory.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from hangard.registry.client import RegistryClient
from tests.harness.authfile import AuthFiles
from tests.harness.faults import FaultProxy
from tests.harness.hostile import HostileRegistry
from tests.harness.registry import (
    Registry,
    make_basic_registry,
    make_plain_registry,
    make_schema1_registry,
    make_tls_registry,
    make_token_registry,
    stop_all,
)
from tests.harness.tokenserver import TokenServer
from tests.helpers_cli import Hangard
from tests.helpers_copy import make_client

# Everything here talks to loopback. A proxy set for the developer or the CI
# machine must not be used by hangard in-process or by the harness's own httpx
# clients (the ``hangard`` subprocesses get a scrubbed environment as well).
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.lower(), None)

TOKEN_USERS = {"alice": "alice-secret", "reader": "reader-secret"}
TOKEN_GRANTS: dict[str, dict[str, list[str]]] = {"reader": {"*": ["pull"]}}

RegistryFactory = Callable[..., Registry]
TokenServerFactory = Callable[..., TokenServer]
FaultProxyFactory = Callable[..., FaultProxy]


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults: a command run in process
    (typer's CliRunner) configures logging for the whole process, and a
    level filter left behind would hide the events a later test captures."""
    yield
    import structlog

    from hangard.log import set_log_sink

    structlog.reset_defaults()
    set_log_sink(None)


@pytest.fixture(scope="session", autouse=True)
def _stop_stray_registries() -> Iterator[None]:
    """Safety net: no registry process outlives the session."""
    yield
    stop_all()


@pytest.fixture(scope="session")
def registry_ca() -> trustme.CA:
    """CA that issues the TLS registries' certificates."""
    return trustme.CA()


@pytest.fixture
def registry_factory(
    tmp_path_factory: pytest.TempPathFactory, registry_ca: trustme.CA
) -> Iterator[RegistryFactory]:
    """Start extra registries: ``make(kind="plain", **kw)``; all stopped at teardown."""
    started: list[Registry] = []

    def make(kind: str = "plain", **kw: Any) -> Registry:
        workdir = tmp_path_factory.mktemp(f"registry-{kind}")
        if kind == "plain":
            reg = make_plain_registry(workdir, **kw)
        elif kind == "tls":
            kw.setdefault("ca", registry_ca)
            reg = make_tls_registry(workdir, **kw)
        elif kind == "basic":
            if kw.get("tls"):
                kw.setdefault("ca", registry_ca)
            reg = make_basic_registry(workdir, **kw)
        elif kind == "token":
            reg = make_token_registry(workdir, **kw)
        elif kind == "schema1":
            reg = make_schema1_registry(workdir, **kw)
        else:
            raise ValueError(f"unknown registry kind {kind!r}")
        started.append(reg)
        return reg.start()

    yield make
    for reg in started:
        reg.stop()


@pytest.fixture
def token_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServerFactory]:
    """Start token servers: ``make(users=..., grants=..., expires_in=...)``."""
    started: list[TokenServer] = []

    def make(**kw: Any) -> TokenServer:
        kw.setdefault("users", dict(TOKEN_USERS))
        kw.setdefault("grants", {k: dict(v) for k, v in TOKEN_GRANTS.items()})
        ts = TokenServer(tmp_path_factory.mktemp("tokenserver"), **kw)
        started.append(ts)
        return ts.start()

    yield make
    for ts in started:
        ts.stop()


@pytest.fixture
def fault_proxy() -> Iterator[FaultProxyFactory]:
    """``make(registry, ssl_context=None) -> FaultProxy`` in front of ``registry``."""
    started: list[FaultProxy] = []

    def make(registry: Registry, ssl_context: ssl.SSLContext | None = None) -> FaultProxy:
        proxy = FaultProxy(registry.host, ssl_context=ssl_context)
        started.append(proxy)
        return proxy.start()

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    """A hostile fake registry (:mod:`tests.harness.hostile`): routes set per test."""
    with HostileRegistry() as server:
        yield server


@pytest.fixture
def plain_registry(registry_factory: RegistryFactory) -> Registry:
    """Plain HTTP, no auth."""
    return registry_factory("plain")


@pytest.fixture
def plain_registry2(registry_factory: RegistryFactory) -> Registry:
    """A second, independent plain HTTP registry."""
    return registry_factory("plain")


@pytest.fixture
async def client(
    plain_registry: Registry, plain_registry2: Registry
) -> AsyncIterator[RegistryClient]:
    """A hangard client for the two plain registries."""
    async with make_client(plain_registry, plain_registry2) as c:
        yield c


@pytest.fixture
def tls_registry(registry_factory: RegistryFactory) -> Registry:
    """HTTPS with a trustme certificate; ``ca_file`` is the CA PEM."""
    return registry_factory("tls")


@pytest.fixture
def basic_registry(registry_factory: RegistryFactory) -> Registry:
    """htpasswd basic auth over plain HTTP (alice / alice-secret)."""
    return registry_factory("basic", username="alice", password="alice-secret")


@pytest.fixture
def token_server(token_server_factory: TokenServerFactory) -> TokenServer:
    """Token server: alice (all actions), reader (pull), anonymous pull."""
    return token_server_factory()


@pytest.fixture
def token_registry(registry_factory: RegistryFactory, token_server: TokenServer) -> Registry:
    """Bearer-token registry trusting ``token_server``; credentials are alice's."""
    return registry_factory("token", token_server=token_server, username="alice")


@pytest.fixture
def schema1_registry(registry_factory: RegistryFactory) -> Registry:
    """Plain HTTP registry with ``compatibility.schema1.enabled``."""
    return registry_factory("schema1")


@pytest.fixture
def tmp_authfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuthFiles:
    """Empty credential files; env points at them so real creds are never read."""
    files = AuthFiles.create(tmp_path / "auth")
    for name, value in files.environ().items():
        monkeypatch.setenv(name, value)
    return files


@pytest.fixture
def hangard(tmp_path: Path, tmp_authfile: AuthFiles) -> Hangard:
    """``hangard(*args) -> Run``: ``python -m hangard``, isolated (see :mod:`tests.helpers_cli`)."""
    return Hangard.isolated(tmp_path, tmp_authfile)
