"""A request cannot hang forever (issue 9, item 8, the request part): each
attempt of a non-blob request has a deadline, and a blob stream that moves
too little over its window is aborted. Both end in a
:class:`~hangard.errors.TransportTimeoutError` (reason ``timeout``) naming
the image and the registry.

Deliberate fakes: a real registry never trickles a byte at a time, so the
:class:`~tests.harness.hostile.HostileRegistry` does. The blob test runs on a
clock that moves a second per reading, so a 60 s window passes in well under
a second of real time; nothing waits by sleeping.
"""

from __future__ import annotations

import time

import pytest

from hangard.core import mediatypes as mt
from hangard.core.manifest import digest_of
from hangard.core.reference import Repository
from hangard.errors import TransportTimeoutError
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness.hostile import HostileRegistry, json_reply, trickle
from tests.helpers_clock import FakeClock

BLOB = b"x" * 4096


class SteppingClock(FakeClock):
    """Every reading of the monotonic clock is ``step`` seconds later."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


def _client(server: HostileRegistry, clock: FakeClock | None = None, **kw: float) -> RegistryClient:
    options = ClientOptions(
        registries={server.host: RegistryOptions(http=True)},
        max_attempts=1,
        **kw,  # type: ignore[arg-type]
    )
    store = CredentialStore(environ={})
    if clock is None:
        return RegistryClient(options, store)
    return RegistryClient(options, store, clock=clock)


async def test_a_trickled_manifest_hits_the_request_deadline(hostile: HostileRegistry) -> None:
    hostile.route(r"/manifests/", trickle(b"{}" * 100, interval=0.05))
    began = time.monotonic()
    async with _client(hostile, request_timeout=0.3) as client:
        with pytest.raises(TransportTimeoutError) as info:
            await client.get_manifest(Repository(hostile.host, "app").tag("v1"))
    assert time.monotonic() - began < 5
    assert info.value.reason == "timeout"
    text = str(info.value)
    assert "request deadline" in text
    assert f"image {hostile.host}/app:v1" in text and f"registry {hostile.host}" in text


async def test_a_trickled_blob_stream_is_aborted(hostile: HostileRegistry) -> None:
    digest = digest_of(BLOB)
    hostile.route(r"/blobs/", trickle(BLOB, interval=0.005))
    clock = SteppingClock(step=1.0)
    async with _client(hostile, clock, blob_rate_window=10.0, blob_min_rate=1024.0) as client:
        with pytest.raises(TransportTimeoutError) as info:
            await client.get_blob(Repository(hostile.host, "app"), digest)
    assert info.value.reason == "timeout"
    text = str(info.value)
    assert "blob stream too slow" in text
    assert f"image {hostile.host}/app@{digest}" in text and f"registry {hostile.host}" in text


async def test_a_blob_that_keeps_moving_is_not_aborted(hostile: HostileRegistry) -> None:
    hostile.route(r"/blobs/", json_reply(200, BLOB, {"Content-Type": mt.OCI_MANIFEST}))
    clock = SteppingClock(step=1.0)
    async with _client(hostile, clock, blob_rate_window=1.0, blob_min_rate=1.0) as client:
        assert await client.get_blob(Repository(hostile.host, "app"), digest_of(BLOB)) == BLOB


async def test_a_registrys_timeout_is_the_deadline_of_its_calls(hostile: HostileRegistry) -> None:
    """``registries: HOST: {timeout, retry_times}`` (carried in
    :class:`RegistryOptions`) replace the client's ``request_timeout`` and
    ``max_attempts`` for that host's calls only."""
    hostile.route(r"/manifests/", trickle(b"{}" * 100, interval=0.05))
    options = ClientOptions(
        registries={hostile.host: RegistryOptions(http=True, timeout=0.3, retry_times=1)},
        request_timeout=60.0,
        backoff_base=0.01,
    )
    began = time.monotonic()
    async with RegistryClient(options, CredentialStore(environ={})) as client:
        with pytest.raises(TransportTimeoutError) as info:
            await client.get_manifest(Repository(hostile.host, "app").tag("v1"))
    assert time.monotonic() - began < 5
    assert info.value.reason == "timeout"
    assert "within 0.3 s (the request deadline)" in str(info.value)
    assert [p for p in hostile.paths() if "/manifests/" in p] == ["/v2/app/manifests/v1"] * 2
