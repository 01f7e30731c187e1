"""A credential belongs to the origin it was issued for, across a whole
redirect chain (issue 9, item 1).

Deliberate fakes: no real registry redirects from one loopback address to
another, so two :class:`~tests.harness.hostile.HostileRegistry` servers play
the registry A (127.0.0.1, Basic auth) and the storage B (127.0.0.2, another
origin). The https→http refusal is tested in ``test_client.py``
(``test_https_to_http_redirect_is_refused``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from hangard.core.manifest import digest_of
from hangard.core.reference import Repository
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import Credentials, CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness.hostile import HostileRegistry, json_reply, redirect

PAYLOAD = b"the blob behind the redirects"
DIGEST = digest_of(PAYLOAD)
BASIC = {"WWW-Authenticate": 'Basic realm="hostile"'}

Chain = Callable[[HostileRegistry, HostileRegistry], None]


@pytest.fixture
def a() -> Iterator[HostileRegistry]:
    with HostileRegistry("127.0.0.1") as server:
        server.route(r"^/v2/$", json_reply(401, b"", BASIC))
        yield server


@pytest.fixture
def b() -> Iterator[HostileRegistry]:
    with HostileRegistry("127.0.0.2") as server:
        yield server


def _to(server: HostileRegistry, path: str) -> Callable[[re.Match[str]], str]:
    return lambda _m: f"{server.url}{path}"


def a_to_b(a: HostileRegistry, b: HostileRegistry) -> None:
    a.route(r"/blobs/", redirect(_to(b, "/obj/1")))
    b.route(r"^/obj/1$", json_reply(200, PAYLOAD))


def a_to_b_to_b(a: HostileRegistry, b: HostileRegistry) -> None:
    a.route(r"/blobs/", redirect(_to(b, "/obj/1")))
    b.route(r"^/obj/1$", redirect(lambda _m: "/obj/2"))  # relative: B again
    b.route(r"^/obj/2$", json_reply(200, PAYLOAD))


def a_to_b_to_a(a: HostileRegistry, b: HostileRegistry) -> None:
    a.route(r"/blobs/", redirect(_to(b, "/obj/1")))
    b.route(r"^/obj/1$", redirect(_to(a, "/back")))
    a.route(r"^/back$", json_reply(200, PAYLOAD))


@pytest.mark.parametrize("chain", [a_to_b, a_to_b_to_b, a_to_b_to_a], ids=lambda c: c.__name__)
async def test_credentials_stay_with_their_origin_across_a_redirect_chain(
    a: HostileRegistry, b: HostileRegistry, chain: Chain
) -> None:
    chain(a, b)
    options = ClientOptions(registries={a.host: RegistryOptions(http=True)}, backoff_base=0.01)
    store = CredentialStore(overrides={a.host: Credentials("alice", "secret")}, environ={})
    async with RegistryClient(options, store) as client:
        assert await client.get_blob(Repository(a.host, "app"), DIGEST) == PAYLOAD

    to_a = [r for r in a.requests() if r.path != "/v2/"]
    to_b = b.requests()
    assert to_a and to_b
    assert all((r.authorization or "").startswith("Basic ") for r in to_a)
    assert [r.authorization for r in to_b] == [None] * len(to_b)
    if chain is a_to_b_to_a:
        assert [r.path for r in to_a] == [f"/v2/app/blobs/{DIGEST}", "/back"]
