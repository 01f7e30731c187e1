"""The one retry loop (:meth:`hangard.registry.transport.Transport.send`)
with an injected clock: the backoff schedule, ``Retry-After`` (seconds and
HTTP date, capped), deadlines and what is never retried. No test waits out
a delay: the :class:`~tests.helpers_clock.FakeClock` records the sleeps, and
each test asserts its wall time stays small.

Plain answers come from a real ``docker-registry``; 429/503 storms,
``Retry-After`` and dropped connections from the deliberate fake
:class:`tests.harness.faults.FaultProxy` in front of it (a registry never
sends those by itself).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import pytest

from hangard.core.reference import Repository
from hangard.errors import NotFoundError, RateLimitedError, ServerError, TransportError
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from hangard.registry.retry import MAX_RETRY_AFTER
from hangard.registry.transport import Call, Transport
from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.faults import FaultProxy
from tests.harness.registry import Registry
from tests.helpers_clock import FakeClock

HTTP = RegistryOptions(http=True)
#: wall-clock budget of a test whose schedule would take many seconds if slept
FAST = 5.0


@pytest.fixture
def proxy(plain_registry: Registry, fault_proxy: FaultProxyFactory) -> FaultProxy:
    return fault_proxy(plain_registry)


@pytest.fixture
def started() -> Iterator[None]:
    """Fail a test that took long enough to have slept for real."""
    began = time.monotonic()
    yield
    assert time.monotonic() - began < FAST


def transport(host: str, clock: FakeClock, *, jitter: float = 1.0, **options: float) -> Transport:
    """A transport for ``host``; ``jitter`` is what the random source returns
    (1.0: every delay at its ceiling)."""
    opts = ClientOptions(registries={host: HTTP}, **options)  # type: ignore[arg-type]
    return Transport(opts, clock=clock, rng=lambda: jitter)


def ping(host: str, **kw: object) -> Call:
    return Call(host, "GET", f"http://{host}/v2/", **kw)  # type: ignore[arg-type]


@pytest.mark.usefixtures("started")
async def test_a_real_registry_answers_without_retries(plain_registry: Registry) -> None:
    clock = FakeClock()
    t = transport(plain_registry.host, clock)
    try:
        response = await t.send(ping(plain_registry.host))
        assert response.status_code == 200
        missing = f"http://{plain_registry.host}/v2/app/none/manifests/v1"
        with pytest.raises(NotFoundError):
            await t.send(Call(plain_registry.host, "GET", missing))
    finally:
        await t.aclose()
    assert clock.sleeps == []  # 404 is never retried


@pytest.mark.usefixtures("started")
async def test_503_storm_backs_off_exponentially_up_to_the_cap(proxy: FaultProxy) -> None:
    proxy.fail(r"^/v2/$", 503, times=None)
    clock = FakeClock()
    t = transport(proxy.host, clock, max_attempts=7, backoff_base=1.0, backoff_cap=8.0)
    try:
        with pytest.raises(ServerError) as info:
            await t.send(ping(proxy.host))
    finally:
        await t.aclose()
    assert info.value.reason == "server_error" and info.value.status == 503
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert proxy.count("GET", r"^/v2/$") == 7


@pytest.mark.usefixtures("started")
async def test_full_jitter_stays_within_the_ceiling(proxy: FaultProxy) -> None:
    proxy.fail(r"^/v2/$", 502, times=3)
    clock = FakeClock()
    t = transport(proxy.host, clock, jitter=0.25, backoff_base=2.0, backoff_cap=30.0)
    try:
        assert (await t.send(ping(proxy.host))).status_code == 200
    finally:
        await t.aclose()
    assert clock.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.usefixtures("started")
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("100000", MAX_RETRY_AFTER),
        (email.utils.formatdate(FakeClock().time() + 30, usegmt=True), 30.0),
        (email.utils.formatdate(FakeClock().time() + 86400, usegmt=True), MAX_RETRY_AFTER),
        (email.utils.formatdate(FakeClock().time() - 60, usegmt=True), 0.0),
    ],
    ids=["seconds", "seconds-capped", "http-date", "http-date-capped", "http-date-past"],
)
async def test_retry_after_is_honoured_and_capped(
    proxy: FaultProxy, header: str, expected: float
) -> None:
    proxy.fail(r"^/v2/$", 429, times=1, headers={"Retry-After": header})
    clock = FakeClock()
    t = transport(proxy.host, clock)
    try:
        assert (await t.send(ping(proxy.host))).status_code == 200
    finally:
        await t.aclose()
    # one sleep: after it the fake clock stands past an HTTP date, as a real one would
    assert clock.sleeps == [expected]


@pytest.mark.usefixtures("started")
async def test_no_retry_would_end_past_the_deadline(proxy: FaultProxy) -> None:
    proxy.fail(r"^/v2/$", 429, times=None, headers={"Retry-After": "7"})
    clock = FakeClock()
    t = transport(proxy.host, clock)
    try:
        with pytest.raises(RateLimitedError):
            await t.send(ping(proxy.host, deadline=clock.monotonic() + 10))
    finally:
        await t.aclose()
    assert clock.sleeps == [7.0]  # a second 7 s wait would end 14 s in


@pytest.mark.usefixtures("started")
async def test_a_streamed_body_is_sent_once(proxy: FaultProxy) -> None:
    proxy.fail(r"^/v2/$", 503, times=None)
    clock = FakeClock()
    t = transport(proxy.host, clock)
    try:
        with pytest.raises(ServerError):
            await t.send(ping(proxy.host, replayable=False))
    finally:
        await t.aclose()
    assert clock.sleeps == [] and proxy.count("GET", r"^/v2/$") == 1


@pytest.mark.usefixtures("started")
async def test_dropped_connections_are_retried_then_reported(proxy: FaultProxy) -> None:
    proxy.fail(r"^/v2/$", 0, times=None, drop=True)
    clock = FakeClock()
    t = transport(proxy.host, clock, max_attempts=3, backoff_base=1.0)
    try:
        with pytest.raises(TransportError, match="after 3 attempts"):
            await t.send(ping(proxy.host))
    finally:
        await t.aclose()
    assert clock.sleeps == [1.0, 2.0]


@pytest.mark.usefixtures("started")
async def test_client_calls_share_the_loop_in_a_503_storm(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    """Through the whole client: a manifest HEAD in a 503 storm is tried
    ``max_attempts`` times, every sleep within the cap, then a ServerError."""
    images.push_oci_image(plain_registry, "app/storm", "v1")
    proxy = fault_proxy(plain_registry)
    proxy.fail(r"/manifests/", 503, times=None)
    clock = FakeClock()
    options = ClientOptions(registries={proxy.host: HTTP}, backoff_base=0.5, backoff_cap=2.0)
    ref = Repository(proxy.host, "app/storm").tag("v1")
    async with RegistryClient(options, CredentialStore(environ={}), clock=clock) as c:
        with pytest.raises(ServerError):
            await c.head_manifest(ref)
    assert len(clock.sleeps) == options.max_attempts - 1
    assert all(0.0 <= s <= 2.0 for s in clock.sleeps)
    assert proxy.count("HEAD", r"/manifests/") == options.max_attempts
