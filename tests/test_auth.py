"""Token-server failures (hangard.registry.auth) against a real bearer-token
``docker-registry`` and the harness token server. The token server's 503/429
are its deliberate failure mode (:meth:`TokenServer.fail`): a healthy one
never answers so. Retries run on a :class:`~tests.helpers_clock.FakeClock`."""

from __future__ import annotations

import pytest

from hangard.core.reference import Repository
from hangard.errors import AuthError, RateLimitedError, ResponseError, ServerError
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import Credentials, CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness import images
from tests.harness.authfile import AuthFiles
from tests.harness.registry import Registry
from tests.harness.tokenserver import TokenServer
from tests.helpers_clock import FakeClock

ALICE = Credentials("alice", "alice-secret")


@pytest.fixture(autouse=True)
def _no_real_credentials(tmp_authfile: AuthFiles) -> AuthFiles:
    return tmp_authfile


def client(host: str, clock: FakeClock, creds: Credentials = ALICE) -> RegistryClient:
    options = ClientOptions(registries={host: RegistryOptions(http=True)}, max_attempts=3)
    store = CredentialStore(overrides={host: creds}, environ={})
    return RegistryClient(options, store, clock=clock)


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (503, ServerError, "server_error"),
        (500, ServerError, "server_error"),
        (429, RateLimitedError, "rate_limited"),
    ],
)
async def test_token_server_failures_are_not_auth_errors(
    token_registry: Registry,
    token_server: TokenServer,
    status: int,
    error: type[ResponseError],
    reason: str,
) -> None:
    images.push_oci_image(token_registry, "app/tok", "v1")
    token_server.clear_requests()
    token_server.fail(status)
    clock = FakeClock()
    async with client(token_registry.host, clock) as c:
        with pytest.raises(error) as info:
            await c.head_manifest(Repository(token_registry.host, "app/tok").tag("v1"))
    assert not isinstance(info.value, AuthError)
    assert info.value.reason == reason
    assert info.value.status == status
    # the same retry loop as registry calls: three attempts, two pauses
    assert [r.status for r in token_server.token_requests()] == [status] * 3
    assert len(clock.sleeps) == 2


async def test_a_passing_token_server_outage_is_retried(
    token_registry: Registry, token_server: TokenServer
) -> None:
    image = images.push_oci_image(token_registry, "app/tok", "v1")
    token_server.clear_requests()
    token_server.fail(503, times=1, headers={"Retry-After": "4"})
    clock = FakeClock()
    async with client(token_registry.host, clock) as c:
        found = await c.head_manifest(Repository(token_registry.host, "app/tok").tag("v1"))
    assert found is not None and found.digest == image.digest
    assert [r.status for r in token_server.token_requests()] == [503, 200]
    assert clock.sleeps == [4.0]


async def test_token_server_401_stays_an_auth_error(
    token_registry: Registry, token_server: TokenServer
) -> None:
    clock = FakeClock()
    async with client(token_registry.host, clock, Credentials("alice", "wrong")) as c:
        with pytest.raises(AuthError, match="token server refused the credentials") as info:
            await c.head_manifest(Repository(token_registry.host, "app/tok").tag("v1"))
    assert info.value.reason == "unauthorized"
    assert clock.sleeps == []
