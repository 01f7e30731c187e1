"""``max_concurrency: N`` is at most N requests in flight to a host, all
kinds together, and ``requests_per_second`` paces every request, blob
streams and uploads included (issue 9, item 19).

Concurrency is counted by the deliberate fake
:class:`~tests.harness.faults.FaultProxy` in front of real registries: it
parks requests until N+1 are in flight at once (a client over its cap
releases them at once) or a short window passes, and records the most it
saw in flight.
"""

from __future__ import annotations

import asyncio

import pytest

from hangard.copy import Copier
from hangard.core.reference import Repository
from hangard.registry.limits import HostLimiter
from hangard.registry.options import RegistryOptions
from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.registry import Registry
from tests.helpers_copy import make_client, ref


@pytest.mark.parametrize("cap", [1, 4])
async def test_blob_streams_and_requests_share_the_cap(
    plain_registry: Registry, fault_proxy: FaultProxyFactory, cap: int
) -> None:
    image = images.push_oci_image(plain_registry, "app/conc", "v1")
    proxy = fault_proxy(plain_registry)
    repo = Repository(proxy.host, "app/conc")
    limited = {proxy.host: RegistryOptions(http=True, max_concurrency=cap)}
    async with make_client(hosts=limited) as client:
        await client.access.ping(proxy.host)
        proxy.hold(r"^/v2/app/", until_in_flight=cap + 1, timeout=0.5)

        async def stream() -> bytes:
            async with client.open_blob(repo, image.config.digest) as blob:
                return b"".join([chunk async for chunk in blob.chunks()])

        results = await asyncio.gather(
            *(stream() for _ in range(cap)), client.head_manifest(repo.tag("v1"))
        )
    assert results[:cap] == [image.config.data] * cap
    assert proxy.max_in_flight == cap


@pytest.mark.parametrize("cap", [1, 4])
async def test_a_copy_never_exceeds_the_cap_on_either_host(
    plain_registry: Registry,
    plain_registry2: Registry,
    fault_proxy: FaultProxyFactory,
    cap: int,
) -> None:
    index = images.build_index(7, oci=True)
    images.push_index(plain_registry, "multi/app", index, "v1")
    source, target = fault_proxy(plain_registry), fault_proxy(plain_registry2)
    limited = {
        p.host: RegistryOptions(http=True, max_concurrency=cap, chunk_size=None)
        for p in (source, target)
    }
    async with make_client(hosts=limited) as client:
        for proxy in (source, target):
            await client.access.ping(proxy.host)
            proxy.hold(r"^/v2/.+/", until_in_flight=cap + 1, timeout=0.3)
        await asyncio.wait_for(
            Copier(client).copy(ref(source, "multi/app", "v1"), ref(target, "multi/copy", "v1")),
            timeout=60,
        )
    assert images.get_manifest_raw(plain_registry2, "multi/copy", "v1") == index.manifest
    assert source.max_in_flight <= cap and target.max_in_flight <= cap


async def test_a_transfer_within_one_host_takes_a_slot_per_end() -> None:
    limiter = HostLimiter(lambda host: 2 if host == "a" else 1)
    done: list[str] = []

    async def transfer(name: str) -> None:
        async with limiter.transfer("a", "a", "b"), limiter.request("a"), limiter.request("b"):
            done.append(name)

    async def request() -> None:
        async with limiter.request("a"):
            done.append("request")

    await asyncio.wait_for(asyncio.gather(transfer("t1"), request(), transfer("t2")), timeout=5)
    assert sorted(done) == ["request", "t1", "t2"]


async def test_a_transfer_with_both_ends_on_a_one_slot_host_does_not_fit() -> None:
    limiter = HostLimiter(lambda host: 1)
    assert limiter.fits("a", "b")
    assert not limiter.fits("a", "a")  # the copier spools instead (tests/test_spool.py)
    with pytest.raises(ValueError, match="needs more slots"):
        async with limiter.transfer("a", "a"):
            pass
    async with limiter.transfer("a"), limiter.transfer("a", "a"):
        pass  # within a held transfer, its ends need no more slots


async def test_requests_per_second_paces_blob_streams(
    plain_registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    image = images.push_oci_image(plain_registry, "app/paced", "v1")
    proxy = fault_proxy(plain_registry)
    repo = Repository(proxy.host, "app/paced")
    paced = {proxy.host: RegistryOptions(http=True, requests_per_second=20, max_concurrency=8)}
    async with make_client(hosts=paced) as client:
        await client.access.ping(proxy.host)
        blobs = await asyncio.gather(
            *(client.get_blob(repo, image.config.digest) for _ in range(6))
        )
    assert blobs == [image.config.data] * 6
    arrivals = sorted(r.time for r in proxy.requests() if "/blobs/" in r.path)
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] >= 0.2  # 5 gaps of 50 ms, minus clock slack
