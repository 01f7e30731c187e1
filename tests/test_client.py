"""Integration tests of :class:`hangard.registry.client.RegistryClient` against
real ``docker-registry`` 2.8 processes (see ``tests/conftest.py``).

Images are built and pushed by the independent harness client
(``tests.harness.images``) and read back the same way, so every round trip is
checked by code that shares nothing with hangard.  What no local registry can
do (5xx/429, ``Retry-After``, rate-limit headers, redirects to object storage,
tag pagination, holding requests to observe concurrency) goes through the
deliberate fakes in ``tests.harness.faults``; those tests say so.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trustme

import hangard.registry.client as client_module
from hangard.core import mediatypes as mt
from hangard.core.manifest import digest_of, parse_manifest
from hangard.core.reference import Repository
from hangard.errors import (
    AuthError,
    Hint,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
)
from hangard.registry.auth import pull_scope
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import Credentials, CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from hangard.registry.transport import Call
from tests.conftest import FaultProxyFactory, RegistryFactory, TokenServerFactory
from tests.harness import images
from tests.harness.authfile import AuthFiles
from tests.harness.faults import BlobStore, FaultProxy
from tests.harness.registry import Registry
from tests.harness.tokenserver import TokenServer

ALICE = Credentials("alice", "alice-secret")
READER = Credentials("reader", "reader-secret")
HTTP = RegistryOptions(http=True)
PLAIN_HTTP_REMEDY = "the registry speaks plain HTTP: set registries: "

Observed = list[tuple[str, str, int]]


def observer(seen: Observed) -> Callable[[str, str, int, float], None]:
    """An ``on_response`` that records (registry, method, status), checking
    that each answer was timed."""

    def record(registry: str, method: str, status: int, seconds: float) -> None:
        assert 0 <= seconds < 60, seconds
        seen.append((registry, method, status))

    return record


# ------------------------------------------------------------------ helpers
@pytest.fixture(autouse=True)
def _no_real_credentials(tmp_authfile: AuthFiles) -> AuthFiles:
    """Every test runs with empty, temporary credential files."""
    return tmp_authfile


def make_client(
    host: str,
    opts: RegistryOptions = HTTP,
    *,
    creds: Credentials | None = None,
    store: CredentialStore | None = None,
    on_response: Callable[[str, str, int, float], None] | None = None,
    **client_kw: Any,
) -> RegistryClient:
    """A client for one registry; fast backoff; credentials only from ``creds``."""
    client_kw.setdefault("backoff_base", 0.01)
    if store is None:
        store = CredentialStore(overrides={host: creds} if creds else None, environ={})
    options = ClientOptions(registries={host: opts}, **client_kw)
    return RegistryClient(options, store, on_response=on_response)


def blob_bytes(size: int, seed: int) -> bytes:
    return b"".join(images.stream_bytes(size, seed))


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def tag_many(registry: Registry, repo: str, image: images.Image, tags: list[str]) -> None:
    with images.RegistryClient(registry) as c:
        for tag in tags:
            c.put_manifest(repo, tag, image.manifest, image.media_type)


def behind_proxy(
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    repo: str,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[images.Image, FaultProxy, Repository]:
    """Push an OCI image as ``repo:v1``, then put a fault proxy in front of
    ``registry``; returns the image, the proxy, and ``repo`` on the proxy's host."""
    image = images.push_oci_image(registry, repo, "v1")
    proxy = fault_proxy(registry, ssl_context)
    return image, proxy, Repository(proxy.host, repo)


@pytest.fixture
def blob_store() -> Iterator[BlobStore]:
    with BlobStore() as store:
        yield store


# ------------------------------------------------------------ ping / challenges
async def test_plain_registry_needs_no_auth_and_is_pinged_once(plain_registry: Registry) -> None:
    reg = plain_registry
    image = images.push_oci_image(reg, "app/plain", "v1")
    repo = Repository(reg.host, "app/plain")
    pings_before = reg.count_requests("GET", r"^/v2/$")
    async with make_client(reg.host) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
        assert await c.blob_exists(repo, image.config.digest)
        assert await c.get_blob(repo, image.config.digest) == image.config.data
        assert c.access.challenge(reg.host) is None
        assert c.access.base_url(reg.host) == f"http://{reg.host}"
    assert manifest.raw == image.manifest
    assert reg.count_requests("GET", r"^/v2/$") == pings_before + 1


async def test_basic_registry_sends_credentials_up_front(basic_registry: Registry) -> None:
    reg = basic_registry
    image = images.push_oci_image(reg, "app/basic", "v1")
    repo = Repository(reg.host, "app/basic")
    unauthorized_before = reg.count_requests(status=401)
    async with make_client(reg.host, creds=ALICE) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
        challenge = c.access.challenge(reg.host)
        assert challenge is not None and challenge.scheme == "basic"
        assert challenge.realm == "hangard-test"
        assert await c.put_manifest(repo.tag("v2"), manifest) == image.digest
    assert images.get_manifest_raw(reg, "app/basic", "v2") == image.manifest
    # only the ping was refused: every later request carried Basic credentials
    assert reg.count_requests(status=401) == unauthorized_before + 1


@pytest.mark.parametrize("creds", [Credentials("alice", "wrong"), None], ids=["wrong", "none"])
async def test_basic_registry_refuses_bad_credentials(
    basic_registry: Registry, creds: Credentials | None
) -> None:
    reg = basic_registry
    images.push_oci_image(reg, "app/basic", "v1")
    repo = Repository(reg.host, "app/basic")
    async with make_client(reg.host, creds=creds) as c:
        with pytest.raises(AuthError) as excinfo:
            await c.get_manifest(repo.tag("v1"))
    err = excinfo.value
    assert err.status == 401
    assert err.remedy and "credentials" in err.remedy
    assert err.context.image == str(repo.tag("v1"))
    assert reg.count_requests("GET", r"/manifests/") <= 2  # never loops on 401


async def test_token_registry_challenge_is_remembered(
    token_registry: Registry, token_server: TokenServer
) -> None:
    reg = token_registry
    image = images.push_oci_image(reg, "app/token", "v1")
    repo = Repository(reg.host, "app/token")
    async with make_client(reg.host, creds=ALICE) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
        challenge = c.access.challenge(reg.host)
    assert manifest.raw == image.manifest
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.realm == token_server.realm
    assert challenge.service == reg.token_service


async def test_anonymous_pull_works_but_push_fails(
    token_registry: Registry, token_server: TokenServer
) -> None:
    reg = token_registry
    image = images.push_oci_image(reg, "app/anon", "v1")
    repo = Repository(reg.host, "app/anon")
    token_server.clear_requests()
    async with make_client(reg.host) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
        assert manifest.raw == image.manifest
        with pytest.raises(AuthError) as excinfo:
            await c.start_upload(repo)
    err = excinfo.value
    assert err.status == 401 and err.context.method == "POST"
    assert err.remedy and "target project exists" in err.remedy
    requests = token_server.token_requests()
    assert requests and not any(r.had_credentials for r in requests)


async def test_wrong_password_for_token_server(
    token_registry: Registry, token_server: TokenServer
) -> None:
    reg = token_registry
    images.push_oci_image(reg, "app/token", "v1")
    token_server.clear_requests()
    async with make_client(reg.host, creds=Credentials("alice", "nope")) as c:
        with pytest.raises(AuthError) as excinfo:
            await c.get_manifest(Repository(reg.host, "app/token").tag("v1"))
    assert "token server refused the credentials" in str(excinfo.value)
    assert excinfo.value.remedy and "credentials" in excinfo.value.remedy
    assert [r.status for r in token_server.token_requests()] == [401]


async def test_pull_only_user_cannot_push_and_is_retried_once(
    token_registry: Registry, token_server: TokenServer
) -> None:
    reg = token_registry
    image = images.push_oci_image(reg, "app/reader", "v1")
    repo = Repository(reg.host, "app/reader")
    async with make_client(reg.host, creds=READER) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
        with pytest.raises(AuthError) as excinfo:
            await c.put_manifest(repo.tag("v2"), manifest)
    assert manifest.raw == image.manifest
    assert excinfo.value.remedy and "target project exists" in excinfo.value.remedy
    puts = [e.status for e in reg.access_log() if e.method == "PUT" and e.path.endswith("/v2")]
    assert puts == [401, 401]  # one retry with a fresh token, then give up


async def test_challenge_learned_from_a_later_401(
    token_registry: Registry,
    token_server: TokenServer,
    fault_proxy: FaultProxyFactory,
) -> None:
    """Deliberate fake: the proxy answers ``GET /v2/`` with 200, as registries
    that allow anonymous pings do; the first real call's 401 must teach the
    client the Bearer challenge."""
    reg = token_registry
    image, proxy, repo = behind_proxy(reg, fault_proxy, "app/lazy")
    proxy.fail(r"^/v2/$", 200, times=None, body=b"{}")
    token_server.clear_requests()
    async with make_client(proxy.host, creds=ALICE) as c:
        await c.access.ping(proxy.host)
        assert c.access.challenge(proxy.host) is None
        ref = repo.tag("v1")
        assert (await c.get_manifest(ref)).raw == image.manifest
        assert (await c.head_manifest(ref)) is not None
        challenge = c.access.challenge(proxy.host)
    assert challenge is not None and challenge.realm == token_server.realm
    assert [r.username for r in token_server.token_requests()] == ["alice"]
    statuses = [e.status for e in reg.access_log() if "/manifests/" in e.path]
    assert statuses[-3:] == [401, 200, 200]


# -------------------------------------------------------------------- tokens
async def test_token_cached_per_scope_set(
    token_registry: Registry, token_server: TokenServer
) -> None:
    reg = token_registry
    image = images.push_oci_image(reg, "app/cache", "v1")
    repo = Repository(reg.host, "app/cache")
    ref = repo.tag("v1")
    token_server.clear_requests()
    async with make_client(reg.host, creds=ALICE) as c:
        assert (await c.head_manifest(ref)) is not None
        manifest = await c.get_manifest(ref)
        assert await c.blob_exists(repo, image.config.digest)
        assert await c.get_blob(repo, image.config.digest) == image.config.data
        assert await c.list_tags(repo) == ["v1"]
        assert [r.scopes for r in token_server.token_requests()] == [[pull_scope("app/cache")]]

        data = b"one blob for the push scope"
        location = await c.start_upload(repo)
        await c.put_blob(repo, location, digest_of(data), len(data), data)
        await c.put_manifest(repo.tag("v2"), manifest)
    requests = token_server.token_requests()
    assert [r.scopes for r in requests] == [
        ["repository:app/cache:pull"],
        ["repository:app/cache:push,pull"],
    ]
    assert all(r.username == "alice" and r.service == reg.token_service for r in requests)
    assert images.get_blob(reg, "app/cache", digest_of(data)) == data


async def test_concurrent_calls_share_one_token_fetch(
    token_registry: Registry, token_server: TokenServer
) -> None:
    reg = token_registry
    image = images.push_oci_image(reg, "app/many", "v1")
    ref = Repository(reg.host, "app/many").tag("v1")
    token_server.clear_requests()
    pings_before = reg.count_requests("GET", r"^/v2/$")
    async with make_client(reg.host, creds=ALICE) as c:
        results = await asyncio.gather(*(c.get_manifest(ref) for _ in range(8)))
    assert {m.digest for m in results} == {image.digest}
    assert len(token_server.token_requests()) == 1
    assert reg.count_requests("GET", r"^/v2/$") == pings_before + 1


async def test_mount_uses_one_token_with_source_pull_scope(
    token_registry: Registry, token_server: TokenServer
) -> None:
    reg = token_registry
    image = images.push_oci_image(reg, "team/src", "v1")
    layer = image.layers[0]
    token_server.clear_requests()
    async with make_client(reg.host, creds=ALICE) as c:
        result = await c.mount_blob(
            Repository(reg.host, "team/dst"), layer.digest, Repository(reg.host, "team/src")
        )
    assert result == (True, None)
    [request] = token_server.token_requests()
    assert sorted(request.scopes) == ["repository:team/dst:push,pull", "repository:team/src:pull"]
    assert {"type": "repository", "name": "team/src", "actions": ["pull"]} in request.access
    assert images.blob_exists(reg, "team/dst", layer.digest)


async def test_insufficient_scope_retries_once_with_merged_scopes(
    token_registry: Registry, token_server: TokenServer
) -> None:
    """A PUT sent with only a pull token gets ``insufficient_scope``; the
    client merges the challenge's scope, fetches a new token, and retries."""
    reg = token_registry
    image = images.push_oci_image(reg, "app/scope", "v1")
    token_server.clear_requests()
    async with make_client(reg.host, creds=ALICE) as c:
        call = Call(
            reg.host,
            "PUT",
            "/v2/app/scope/manifests/v2",
            headers={"Content-Type": image.media_type},
            content=image.manifest,
            ok=(201,),
        )
        response = await c.access.request(call, scopes=[pull_scope("app/scope")])
    assert response.status_code == 201
    assert [r.scopes for r in token_server.token_requests()] == [
        ["repository:app/scope:pull"],
        ["repository:app/scope:push,pull"],
    ]
    puts = [e.status for e in reg.access_log() if e.method == "PUT" and e.path.endswith("/v2")]
    assert puts == [401, 201]
    assert images.get_manifest_raw(reg, "app/scope", "v2") == image.manifest


async def test_expired_token_is_refetched(
    registry_factory: RegistryFactory, token_server_factory: TokenServerFactory
) -> None:
    """``exp_claim_offset=-60`` cancels the registry's 60 s leeway, so the
    registry refuses the token after 1-2 s (``exp`` is whole seconds) while the
    client still believes it fresh (hangard never trusts less than 60 s): the
    401 must trigger a new token and a successful retry.  ``expires_in=2``
    leaves every token at least a second, enough for the retry."""
    ts = token_server_factory(expires_in=2, exp_claim_offset=-60)
    reg = registry_factory("token", token_server=ts, username="alice")
    image = images.push_oci_image(reg, "app/expiry", "v1")
    ref = Repository(reg.host, "app/expiry").tag("v1")
    ts.clear_requests()
    async with make_client(reg.host, creds=ALICE) as c:
        first = await c.head_manifest(ref)
        assert first is not None and first.digest == image.digest
        assert len(ts.token_requests()) == 1
        deadline = time.monotonic() + 15
        while len(ts.token_requests()) < 2:
            assert time.monotonic() < deadline, "the registry never refused the token"
            await asyncio.sleep(0.1)  # poll interval while the token ages
            again = await c.head_manifest(ref)
            assert again is not None and again.digest == image.digest
        manifest = await c.get_manifest(ref)
    assert manifest.raw == image.manifest
    statuses = [
        e.status for e in reg.access_log() if e.method == "HEAD" and "/manifests/" in e.path
    ]
    refused = statuses.index(401)
    assert statuses[refused + 1] == 200 and statuses.count(401) == 1
    assert [r.scopes for r in ts.token_requests()] == [["repository:app/expiry:pull"]] * 2


# ------------------------------------------------------------------ credentials
@pytest.mark.parametrize("kind", ["basic", "token"])
async def test_credentials_from_docker_config(
    kind: str, request: pytest.FixtureRequest, tmp_authfile: AuthFiles
) -> None:
    reg: Registry = request.getfixturevalue(f"{kind}_registry")
    tmp_authfile.add(reg.host, "alice", "alice-secret")
    image = images.push_oci_image(reg, "app/config", "v1")
    repo = Repository(reg.host, "app/config")
    store = CredentialStore()  # reads $DOCKER_CONFIG/config.json set by tmp_authfile
    assert store.auth_files()[0] == tmp_authfile.docker_config
    async with make_client(reg.host, store=store) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
        await c.put_manifest(repo.tag("pushed"), manifest)  # needs alice's push rights
    assert images.get_manifest_raw(reg, "app/config", "pushed") == image.manifest
    if reg.token_server is not None:
        requests = reg.token_server.token_requests()
        assert requests and all(r.username == "alice" for r in requests if r.had_credentials)


# ----------------------------------------------------------------------- TLS
async def test_tls_with_ca_file(tls_registry: Registry) -> None:
    reg = tls_registry
    image = images.push_oci_image(reg, "app/tls", "v1")
    async with make_client(reg.host, RegistryOptions(ca_file=reg.ca_file)) as c:
        manifest = await c.get_manifest(Repository(reg.host, "app/tls").tag("v1"))
        assert c.access.base_url(reg.host) == f"https://{reg.host}"
    assert manifest.raw == image.manifest


async def test_tls_without_ca_fails_with_ca_file_remedy(
    tls_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = tls_registry
    async with make_client(reg.host, RegistryOptions()) as c:
        sends = 0
        send = c.transport._pools.handle_async_request

        async def counting_send(*args: Any, **kwargs: Any) -> httpx.Response:
            nonlocal sends
            sends += 1
            return await send(*args, **kwargs)

        monkeypatch.setattr(c.transport._pools, "handle_async_request", counting_send)
        with pytest.raises(TransportError) as excinfo:
            await c.get_manifest(Repository(reg.host, "app/tls").tag("v1"))
    err = excinfo.value
    assert "TLS verification failed" in err.message
    assert err.remedy and "ca_file" in err.remedy
    assert err.context.registry == reg.host
    assert sends == 1  # a certificate problem is not transient: no retries


async def test_tls_verify_false_skips_verification(tls_registry: Registry) -> None:
    reg = tls_registry
    image = images.push_oci_image(reg, "app/tls", "v1")
    async with make_client(reg.host, RegistryOptions(tls_verify=False)) as c:
        manifest = await c.get_manifest(Repository(reg.host, "app/tls").tag("v1"))
        assert c.access.base_url(reg.host) == f"https://{reg.host}"
    assert manifest.raw == image.manifest


async def test_plain_http_registry_over_https(plain_registry: Registry) -> None:
    reg = plain_registry
    async with make_client(reg.host, RegistryOptions()) as c:
        with pytest.raises(TransportError) as excinfo:
            await c.get_manifest(Repository(reg.host, "app/plain").tag("v1"))
    assert excinfo.value.message == "server gave HTTP response to HTTPS client"
    assert excinfo.value.remedy is not None
    assert excinfo.value.remedy.startswith(PLAIN_HTTP_REMEDY)
    assert excinfo.value.hint is Hint.PLAIN_HTTP


async def test_tls_verify_false_falls_back_to_plain_http(plain_registry: Registry) -> None:
    reg = plain_registry
    image = images.push_oci_image(reg, "app/plain", "v1")
    async with make_client(reg.host, RegistryOptions(tls_verify=False)) as c:
        manifest = await c.get_manifest(Repository(reg.host, "app/plain").tag("v1"))
        assert c.access.base_url(reg.host) == f"http://{reg.host}"
    assert manifest.raw == image.manifest


# ----------------------------------------------------------------- manifests
@pytest.mark.parametrize("oci", [True, False], ids=["oci-index", "docker-manifest-list"])
async def test_get_index_returns_pushed_bytes(plain_registry: Registry, oci: bool) -> None:
    """Exact bytes prove the full Accept list: without the list types,
    registry 2.8 down-converts a manifest list and 404s an OCI index."""
    reg = plain_registry
    push = images.push_oci_index if oci else images.push_docker_manifest_list
    index = push(reg, "multi/arch", "v1")
    repo = Repository(reg.host, "multi/arch")
    async with make_client(reg.host) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
        child = index.children[1]
        by_digest = await c.get_manifest(repo.digest(child.digest))
        by_index_digest = await c.get_manifest(repo.digest(index.digest))
    assert manifest.raw == index.manifest
    assert manifest.digest == index.digest
    assert manifest.media_type == index.media_type and manifest.is_index
    assert [d.digest for d in manifest.children] == [ch.digest for ch in index.children]
    assert by_digest.raw == child.manifest and by_digest.media_type == child.media_type
    assert by_index_digest.raw == index.manifest


async def test_manifest_requests_accept_every_media_type(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """The proxy only records headers here (a registry's log cannot)."""
    reg = plain_registry
    _, proxy, repo = behind_proxy(reg, fault_proxy, "app/accept")
    ref = repo.tag("v1")
    async with make_client(proxy.host) as c:
        await c.head_manifest(ref)
        await c.get_manifest(ref)
    seen = [r for r in proxy.requests() if "/manifests/" in r.path]
    assert [r.method for r in seen] == ["HEAD", "GET"]
    for r in seen:
        accepted = {part.strip() for part in r.headers["accept"].split(",")}
        assert accepted == set(images.ALL_MANIFEST_TYPES)


async def test_head_manifest(plain_registry: Registry) -> None:
    reg = plain_registry
    image = images.push_schema2_image(reg, "app/head", "v1")
    repo = Repository(reg.host, "app/head")
    async with make_client(reg.host) as c:
        present = await c.head_manifest(repo.tag("v1"))
        pinned = await c.head_manifest(repo.digest(image.digest))
        assert await c.head_manifest(repo.tag("absent")) is None
        assert await c.head_manifest(Repository(reg.host, "no/such").tag("v1")) is None
    assert present is not None and pinned is not None
    assert present.digest == pinned.digest == image.digest
    assert present.media_type == mt.DOCKER_MANIFEST
    assert present.size == len(image.manifest)
    # the digest header was enough: no GET fallback
    assert reg.count_requests("HEAD", r"/manifests/") == 4
    assert reg.count_requests("GET", r"/manifests/") == 0


async def test_put_manifest_round_trip(plain_registry: Registry) -> None:
    reg = plain_registry
    image = images.build_image(seed=7, oci=True)
    repo = Repository(reg.host, "app/put")
    async with make_client(reg.host) as c:
        for blob in image.blobs:
            location = await c.start_upload(repo)
            await c.put_blob(repo, location, blob.digest, blob.size, blob.data)
        manifest = parse_manifest(image.manifest, media_type=image.media_type)
        assert await c.put_manifest(repo.tag("v1"), manifest) == image.digest
        assert (await c.get_manifest(repo.tag("v1"))).raw == image.manifest
    response = images.get_manifest(reg, "app/put", "v1")
    assert response.content == image.manifest
    assert response.headers["content-type"] == image.media_type


async def test_missing_manifest_is_not_found_with_inspect_remedy(
    plain_registry: Registry,
) -> None:
    reg = plain_registry
    images.push_oci_image(reg, "app/nf", "v1")
    ref = Repository(reg.host, "app/nf").tag("missing")
    async with make_client(reg.host) as c:
        with pytest.raises(NotFoundError) as excinfo:
            await c.get_manifest(ref)
    err = excinfo.value
    assert err.status == 404 and err.code == "MANIFEST_UNKNOWN"
    assert err.remedy and f"hangard inspect --raw docker://{ref}" in err.remedy
    assert reg.count_requests("GET", r"/manifests/missing$") == 1


# --------------------------------------------------------------------- blobs
async def test_blob_exists_and_open_blob_streams_exact_bytes(plain_registry: Registry) -> None:
    reg = plain_registry
    size = 300 * 1024
    digest = images.push_blob_stream(reg, "app/blobs", size, seed=3, chunk_size=64 * 1024)
    expected = blob_bytes(size, 3)
    repo = Repository(reg.host, "app/blobs")
    async with make_client(reg.host) as c:
        assert await c.blob_exists(repo, digest)
        assert not await c.blob_exists(repo, digest_of(b"absent"))
        # blobs are linked per repository
        assert not await c.blob_exists(Repository(reg.host, "app/other"), digest)
        async with c.open_blob(repo, digest) as blob:
            assert blob.size == size
            got = b"".join([chunk async for chunk in blob.chunks()])
        assert got == expected
        assert await c.get_blob(repo, digest) == expected


async def test_monolithic_uploads(plain_registry: Registry) -> None:
    reg = plain_registry
    repo = Repository(reg.host, "app/mono")
    as_bytes = blob_bytes(200 * 1024, 11)
    streamed = blob_bytes(200 * 1024 + 17, 12)
    async with make_client(reg.host) as c:
        location = await c.start_upload(repo)
        await c.put_blob(repo, location, digest_of(as_bytes), len(as_bytes), as_bytes)
        location = await c.start_upload(repo)
        await c.put_blob(
            repo, location, digest_of(streamed), len(streamed), pieces(streamed, 32 * 1024)
        )
        assert await c.blob_exists(repo, digest_of(streamed))

        wrong = digest_of(b"something else")
        location = await c.start_upload(repo)
        with pytest.raises(ResponseError) as excinfo:
            await c.put_blob(repo, location, wrong, len(as_bytes), as_bytes)
        assert excinfo.value.code == "DIGEST_INVALID"
        assert not await c.blob_exists(repo, wrong)
    assert images.get_blob(reg, "app/mono", digest_of(as_bytes)) == as_bytes
    assert images.get_blob(reg, "app/mono", digest_of(streamed)) == streamed
    assert reg.count_requests("PATCH") == 0


async def test_chunked_upload(plain_registry: Registry) -> None:
    reg = plain_registry
    repo = Repository(reg.host, "app/chunked")
    data = blob_bytes(300 * 1024, 21)
    digest = digest_of(data)
    async with make_client(reg.host) as c:
        location = await c.start_upload(repo)
        await c.put_blob_chunked(repo, location, digest, pieces(data, 50 * 1024), 64 * 1024)
    patches = [e for e in reg.access_log() if e.method == "PATCH"]
    assert [e.status for e in patches] == [202] * 5  # 4 x 64 KiB + 44 KiB
    # each PATCH went to the newest Location (distribution's _state changes)
    assert len({e.uri for e in patches}) == 5
    assert images.get_blob(reg, "app/chunked", digest) == data


async def test_uploads_follow_relative_locations(registry_factory: RegistryFactory) -> None:
    """distribution with ``http.relativeurls`` answers every upload with a
    path-only ``Location``: each is resolved against the registry's origin."""
    reg = registry_factory(extra_config={"http": {"relativeurls": True}})
    repo = Repository(reg.host, "app/relative")
    data = blob_bytes(150 * 1024, 22)
    async with make_client(reg.host) as c:
        location = await c.start_upload(repo)
        assert location.startswith(f"http://{reg.host}/v2/app/relative/blobs/uploads/")
        await c.put_blob_chunked(
            repo, location, digest_of(data), pieces(data, 50 * 1024), 64 * 1024
        )
        small = b"small blob"
        await c.put_blob(repo, await c.start_upload(repo), digest_of(small), len(small), small)
    uploads = [e for e in reg.access_log() if e.method in ("PATCH", "PUT")]
    assert [e.status for e in uploads] == [202, 202, 202, 201, 201]
    assert images.get_blob(reg, "app/relative", digest_of(data)) == data
    assert images.get_blob(reg, "app/relative", digest_of(small)) == small


async def test_cancel_upload(plain_registry: Registry) -> None:
    reg = plain_registry
    repo = Repository(reg.host, "app/cancel")
    async with make_client(reg.host) as c, httpx.AsyncClient() as raw:
        location = await c.start_upload(repo)
        assert (await raw.get(location)).status_code == 204  # the session exists
        await c.cancel_upload(repo, location)
        gone = await raw.get(location)
        assert gone.status_code == 404
        assert gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        await c.cancel_upload(repo, location)  # best effort: a second cancel is fine
    assert [e.status for e in reg.access_log() if e.method == "DELETE"] == [204, 404]


async def test_mount_blob_within_one_registry(plain_registry: Registry) -> None:
    reg = plain_registry
    image = images.push_oci_image(reg, "app/a", "v1")
    layer = image.layers[0]
    async with make_client(reg.host) as c:
        mounted = await c.mount_blob(
            Repository(reg.host, "app/b"), layer.digest, Repository(reg.host, "app/a")
        )
        assert mounted == (True, None)
        assert await c.blob_exists(Repository(reg.host, "app/b"), layer.digest)
    [post] = [e for e in reg.access_log() if e.method == "POST" and "mount=" in e.uri]
    assert post.status == 201
    assert parse_qs(urlsplit(post.uri).query) == {"mount": [layer.digest], "from": ["app/a"]}


async def test_mount_from_repo_lacking_blob_opens_an_upload(plain_registry: Registry) -> None:
    reg = plain_registry
    image = images.push_oci_image(reg, "app/a", "v1")
    layer = image.layers[0]
    target = Repository(reg.host, "app/c")
    async with make_client(reg.host) as c:
        # the blob is in the registry, but app/empty does not link it
        mounted, location = await c.mount_blob(
            target, layer.digest, Repository(reg.host, "app/empty")
        )
        assert mounted is False
        assert location is not None  # registry 2.8 answers 202 with a fresh upload
        await c.put_blob(target, location, layer.digest, layer.size, layer.data)
        assert await c.blob_exists(target, layer.digest)
    assert images.get_blob(reg, "app/c", layer.digest) == layer.data


# ---------------------------------------------------------------------- tags
async def test_list_tags_follows_link_pagination(
    plain_registry: Registry,
    fault_proxy: FaultProxyFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registry 2.8 ignores ``n`` and never sends ``Link``; the fault proxy
    paginates (a deliberate fake) with a relative ``Link`` the client must
    resolve against the request URL."""
    reg = plain_registry
    image = images.push_oci_image(reg, "app/tags", "t00")
    expected = [f"t{i:02d}" for i in range(25)]
    tag_many(reg, "app/tags", image, expected[1:])
    monkeypatch.setattr(client_module, "TAG_PAGE_SIZE", 10)
    proxy = fault_proxy(reg)
    proxy.paginate_tags()
    async with make_client(proxy.host) as c:
        tags = await c.list_tags(Repository(proxy.host, "app/tags"))
    assert sorted(tags) == expected and len(tags) == 25
    pages = [r for r in proxy.requests() if r.path.endswith("/tags/list")]
    assert [r.query.get("last") for r in pages] == [None, ["t09"], ["t19"]]
    assert all(r.query["n"] == ["10"] for r in pages)
    assert reg.count_requests("GET", r"/tags/list$") == 3


async def test_list_tags_does_not_stop_at_a_short_page(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: the proxy serves 7-tag pages although ``n=1000``."""
    reg = plain_registry
    image = images.push_oci_image(reg, "app/short", "t00")
    expected = [f"t{i:02d}" for i in range(25)]
    tag_many(reg, "app/short", image, expected[1:])
    proxy = fault_proxy(reg)
    proxy.paginate_tags(page_size=7)
    async with make_client(proxy.host) as c:
        assert sorted(await c.list_tags(Repository(proxy.host, "app/short"))) == expected
    assert proxy.count("GET", r"/tags/list$") == 4
    # straight from the registry (no pagination at all) the answer is the same
    async with make_client(reg.host) as c:
        assert sorted(await c.list_tags(Repository(reg.host, "app/short"))) == expected


# ------------------------------------------------- faults (deliberate fakes)
UNAVAILABLE = {"errors": [{"code": "UNAVAILABLE", "message": "try again later"}]}


async def test_retries_503_then_succeeds(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: registry 2.8 never answers 503 on its own."""
    reg = plain_registry
    image, proxy, repo = behind_proxy(reg, fault_proxy, "app/retry")
    fault = proxy.fail(r"/manifests/", 503, times=2, method="GET", body=UNAVAILABLE)
    seen: Observed = []
    async with make_client(proxy.host, on_response=observer(seen)) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
    assert manifest.raw == image.manifest
    assert fault.hits == 2
    assert proxy.count("GET", r"/manifests/") == 3
    assert reg.count_requests("GET", r"/manifests/") == 1
    h = proxy.host
    assert seen == [(h, "GET", 200), (h, "GET", 503), (h, "GET", 503), (h, "GET", 200)]


@pytest.mark.parametrize(
    ("status", "error"), [(503, ServerError), (429, RateLimitedError)], ids=["503", "429"]
)
async def test_retries_give_up_after_max_attempts(
    plain_registry: Registry,
    fault_proxy: FaultProxyFactory,
    status: int,
    error: type[Exception],
) -> None:
    """Deliberate fake: a registry that keeps failing."""
    reg = plain_registry
    _, proxy, repo = behind_proxy(reg, fault_proxy, "app/retry")
    proxy.fail(r"/manifests/", status, times=None, headers={"Retry-After": "0"})
    async with make_client(proxy.host, max_attempts=3) as c:
        with pytest.raises(error) as excinfo:
            await c.get_manifest(repo.tag("v1"))
    assert isinstance(excinfo.value, ResponseError) and excinfo.value.status == status
    assert proxy.count("GET", r"/manifests/") == 3


async def test_dropped_connection_is_retried(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: the proxy closes the connection without an answer."""
    reg = plain_registry
    image, proxy, repo = behind_proxy(reg, fault_proxy, "app/drop")
    dropped = proxy.fail(r"/manifests/", 0, method="GET", drop=True)
    async with make_client(proxy.host) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
    assert manifest.raw == image.manifest
    assert dropped.hits == 1 and proxy.count("GET", r"/manifests/") == 2


async def test_429_retry_after_is_honoured(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: ``Retry-After: 1`` on a 429. With ``backoff_base=0.01``
    the retry would come within milliseconds if the header were ignored."""
    reg = plain_registry
    image, proxy, repo = behind_proxy(reg, fault_proxy, "app/ratelimit")
    fault = proxy.fail(r"/manifests/", 429, times=1, headers={"Retry-After": "1"})
    ref = repo.tag("v1")
    async with make_client(proxy.host) as c:
        await c.access.ping(proxy.host)
        started = time.monotonic()
        manifest = await c.get_manifest(ref)
        elapsed = time.monotonic() - started
    assert manifest.raw == image.manifest and fault.hits == 1
    assert 0.9 <= elapsed < 5
    first, second = [r.time for r in proxy.requests() if "/manifests/" in r.path]
    assert second - first >= 0.9


async def test_not_found_and_denied_are_never_retried(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: the proxy answers 404 / 403 forever and counts asks."""
    reg = plain_registry
    image, proxy, repo = behind_proxy(reg, fault_proxy, "app/nf")
    missing = proxy.fail(
        r"/manifests/missing$",
        404,
        times=None,
        body={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
    )
    denied = proxy.fail(
        r"/manifests/denied$",
        403,
        times=None,
        body={"errors": [{"code": "DENIED", "message": "requested access is denied"}]},
    )
    async with make_client(proxy.host) as c:
        with pytest.raises(NotFoundError):
            await c.get_manifest(repo.tag("missing"))
        with pytest.raises(AuthError) as excinfo:
            await c.get_manifest(repo.tag("denied"))
        assert not await c.blob_exists(repo, digest_of(b"absent"))
        assert await c.blob_exists(repo, image.config.digest)
    assert missing.hits == 1 and denied.hits == 1
    assert excinfo.value.code == "DENIED"
    assert proxy.count("HEAD", r"/blobs/") == 2


async def test_redirect_to_other_host_drops_authorization(
    basic_registry: Registry,
    fault_proxy: FaultProxyFactory,
    blob_store: BlobStore,
) -> None:
    """Deliberate fake: registry 2.8 on a filesystem never redirects blob GETs;
    the proxy sends them (307) to a fake object store on another port."""
    reg = basic_registry
    image, proxy, repo = behind_proxy(reg, fault_proxy, "app/redir")
    layer = image.layers[0]
    blob_store.objects[layer.digest] = images.get_blob(reg, "app/redir", layer.digest)
    proxy.redirect(
        r"^/v2/app/redir/blobs/(sha256:[0-9a-f]{64})$", lambda m: blob_store.url_for(m[1])
    )
    async with make_client(proxy.host, creds=ALICE) as c:
        assert await c.get_blob(repo, layer.digest) == layer.data
        async with c.open_blob(repo, layer.digest) as blob:
            streamed = b"".join([chunk async for chunk in blob.chunks()])
    assert streamed == layer.data
    asked = [r for r in proxy.requests() if r.method == "GET" and "/blobs/" in r.path]
    assert len(asked) == 2
    assert all((r.authorization or "").startswith("Basic ") for r in asked)
    fetched = blob_store.requests()
    assert len(fetched) == 2
    assert all(r.authorization is None for r in fetched)
    assert all(r.query == {"X-Amz-Signature": ["fake"]} for r in fetched)


async def test_same_origin_redirect_keeps_authorization(
    basic_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: a relative redirect back to the same registry."""
    reg = basic_registry
    image, proxy, repo = behind_proxy(reg, fault_proxy, "app/redir")
    proxy.redirect(
        r"^/v2/app/redir/blobs/(sha256:[0-9a-f]{64})$",
        lambda m: f"/v2/app/redir/blobs/{m[1]}?hop=1",
        times=1,
    )
    async with make_client(proxy.host, creds=ALICE) as c:
        assert await c.get_blob(repo, image.config.digest) == image.config.data
    asked = [r for r in proxy.requests() if "/blobs/" in r.path]
    assert [r.query for r in asked] == [{}, {"hop": ["1"]}]
    assert all((r.authorization or "").startswith("Basic ") for r in asked)


async def test_https_to_http_redirect_is_refused(
    plain_registry: Registry,
    fault_proxy: FaultProxyFactory,
    blob_store: BlobStore,
    registry_ca: trustme.CA,
    tmp_path: Path,
) -> None:
    """Deliberate fake: an HTTPS proxy redirecting a blob GET to plain HTTP."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    registry_ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    registry_ca.cert_pem.write_to_path(str(ca_file))
    image, proxy, repo = behind_proxy(plain_registry, fault_proxy, "app/down", server_ctx)
    layer = image.layers[0]
    blob_store.objects[layer.digest] = layer.data
    proxy.redirect(r"/blobs/(sha256:[0-9a-f]{64})$", lambda m: blob_store.url_for(m[1]))
    async with make_client(proxy.host, RegistryOptions(ca_file=str(ca_file))) as c:
        assert (await c.get_manifest(repo.tag("v1"))).raw == image.manifest
        with pytest.raises(TransportError) as excinfo:
            await c.get_blob(repo, layer.digest)
    assert "refusing redirect from https to http" in str(excinfo.value)
    assert blob_store.requests() == []


@pytest.mark.parametrize("cap", [2, 6])
async def test_max_concurrency_caps_in_flight_requests(
    plain_registry: Registry, fault_proxy: FaultProxyFactory, cap: int
) -> None:
    """Deliberate fake: the proxy parks manifest requests until 3 are in
    flight at once or the window closes.  With ``max_concurrency=2`` only two
    ever arrive together; with 6 (the control) the third releases them."""
    reg = plain_registry
    image, proxy, repo = behind_proxy(reg, fault_proxy, "app/conc")
    ref = repo.tag("v1")
    async with make_client(proxy.host, RegistryOptions(http=True, max_concurrency=cap)) as c:
        await c.access.ping(proxy.host)
        # the window is how long a capped client must show restraint; the
        # uncapped control releases it as soon as the third request arrives
        proxy.hold(r"/manifests/", until_in_flight=3, timeout=0.5 if cap == 2 else 10)
        results = await asyncio.gather(*(c.head_manifest(ref) for _ in range(6)))
    assert all(d is not None and d.digest == image.digest for d in results)
    assert proxy.count("HEAD", r"/manifests/") == 6
    if cap == 2:
        assert proxy.max_in_flight == 2
    else:
        assert proxy.max_in_flight >= 3


async def test_requests_per_second_spaces_requests(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """The proxy only timestamps arrivals here."""
    reg = plain_registry
    _, proxy, repo = behind_proxy(reg, fault_proxy, "app/paced")
    ref = repo.tag("v1")
    paced = RegistryOptions(http=True, requests_per_second=20)
    async with make_client(proxy.host, paced) as c:
        await asyncio.gather(*(c.head_manifest(ref) for _ in range(6)))
    arrivals = sorted(r.time for r in proxy.requests() if "/manifests/" in r.path)
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] >= 0.2  # 5 gaps of 50 ms, minus clock slack


async def test_lost_chunk_answer_fails_cleanly(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: the second PATCH reaches the registry but its answer is
    replaced by a 503.  The client retries it (the bytes are replayable), and
    registry 2.8 refuses the now stale ``_state`` and drops the session: the
    upload must fail with a registry error and commit nothing."""
    reg = plain_registry
    proxy = fault_proxy(reg)
    lost = proxy.fail(r"/blobs/uploads/", 503, method="PATCH", skip=1, forward=True)
    repo = Repository(proxy.host, "app/lost")
    data = blob_bytes(200 * 1024, 31)
    async with make_client(proxy.host) as c:
        location = await c.start_upload(repo)
        with pytest.raises(ResponseError) as excinfo:
            await c.put_blob_chunked(
                repo, location, digest_of(data), pieces(data, 64 * 1024), 64 * 1024
            )
        assert not await c.blob_exists(repo, digest_of(data))
    assert excinfo.value.code == "BLOB_UPLOAD_INVALID"
    assert lost.hits == 1
    assert [e.status for e in reg.access_log() if e.method == "PATCH"] == [202, 202, 404]
    assert reg.count_requests("PUT", r"/blobs/uploads/") == 0


async def test_chunk_refused_with_416_resumes_from_the_registry_offset(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: the proxy answers the second PATCH with 416 without
    forwarding it (as a registry that checks ``Content-Range`` would after a
    lost answer).  The client asks the real registry for the upload's
    ``Range`` and resends from there."""
    reg = plain_registry
    proxy = fault_proxy(reg)
    repo = Repository(proxy.host, "app/resume")
    data = blob_bytes(200 * 1024, 32)
    refused = proxy.fail(r"/blobs/uploads/", 416, method="PATCH", skip=1)

    async with make_client(proxy.host) as c:
        location = await c.start_upload(repo)
        await c.put_blob_chunked(
            repo, location, digest_of(data), pieces(data, 64 * 1024), 64 * 1024
        )
    assert refused.hits == 1
    methods = [r.method for r in proxy.requests() if "/uploads/" in r.path]
    assert methods == ["POST", "PATCH", "PATCH", "GET", "PATCH", "PATCH", "PATCH", "PUT"]
    assert [e.status for e in reg.access_log() if e.method == "PATCH"] == [202] * 4
    assert images.get_blob(reg, "app/resume", digest_of(data)) == data


# ------------------------------------------------------------ observability
async def test_on_response_sees_every_call(basic_registry: Registry) -> None:
    reg = basic_registry
    image = images.push_oci_image(reg, "app/observe", "v1")
    repo = Repository(reg.host, "app/observe")
    seen: Observed = []
    async with make_client(reg.host, creds=ALICE, on_response=observer(seen)) as c:
        await c.head_manifest(repo.tag("v1"))
        await c.head_manifest(repo.tag("absent"))
        await c.get_manifest(repo.digest(image.digest))
    h = reg.host
    assert seen == [(h, "GET", 401), (h, "HEAD", 200), (h, "HEAD", 404), (h, "GET", 200)]


async def test_ratelimit_remaining_is_parsed(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: the proxy adds Docker Hub's rate-limit headers."""
    reg = plain_registry
    _, proxy, repo = behind_proxy(reg, fault_proxy, "app/limited")
    proxy.add_header(r"/manifests/", "ratelimit-limit", "100;w=21600")
    proxy.add_header(r"/manifests/", "ratelimit-remaining", "20;w=21600")
    async with make_client(proxy.host) as c:
        await c.access.ping(proxy.host)
        assert c.ratelimit_remaining == {}
        await c.head_manifest(repo.tag("v1"))
        assert c.ratelimit_remaining == {proxy.host: 20}


async def test_ratelimit_floor_pauses_pulls_but_not_heads(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Deliberate fake: the proxy reports ``ratelimit-remaining: 3``. With a
    floor of 5, HEADs (free on Docker Hub) still go out, but manifest and
    blob GETs stop with a rate-limit error before reaching the registry."""
    reg = plain_registry
    _, proxy, repo = behind_proxy(reg, fault_proxy, "app/floor")
    proxy.add_header(r"/manifests/", "ratelimit-remaining", "3;w=21600")
    opts = RegistryOptions(http=True, ratelimit_floor=5)
    ref = repo.tag("v1")
    async with make_client(proxy.host, opts) as c:
        assert await c.head_manifest(ref) is not None
        gets_before = sum(1 for r in proxy.requests() if r.method == "GET")
        with pytest.raises(RateLimitedError, match="below the floor 5") as info:
            await c.get_manifest(ref)
        assert info.value.reason == "rate_limited"
        assert await c.head_manifest(ref) is not None
    assert sum(1 for r in proxy.requests() if r.method == "GET") == gets_before


async def test_identity_token_is_exchanged_with_a_post(
    token_registry: Registry, tmp_authfile: AuthFiles
) -> None:
    """docker's ``identitytoken`` is an OAuth2 refresh token: the client POSTs
    it to the realm (``grant_type=refresh_token``) instead of sending Basic
    credentials, and the token it gets works for pull and push."""
    reg = token_registry
    ts = reg.token_server
    assert ts is not None
    ts.refresh_tokens["refresh-abc"] = "alice"
    data = json.loads(tmp_authfile.docker_config.read_text())
    data["auths"][reg.host] = {"identitytoken": "refresh-abc"}
    tmp_authfile.docker_config.write_text(json.dumps(data))
    image = images.push_oci_image(reg, "app/oauth", "v1")
    ts.clear_requests()
    repo = Repository(reg.host, "app/oauth")
    async with make_client(reg.host, store=CredentialStore()) as c:
        manifest = await c.get_manifest(repo.tag("v1"))
        await c.put_manifest(repo.tag("pushed"), manifest)
    posts = [r for r in ts.requests if r.method == "POST"]
    assert posts and all(r.status == 200 and r.username == "alice" for r in posts)
    assert not [r for r in ts.requests if r.method == "GET" and r.had_credentials]
    assert images.get_manifest_raw(reg, "app/oauth", "pushed") == image.manifest
