"""A blob copied between two repositories of one host whose
``max_concurrency`` is 1, when the host refuses the cross-repository mount,
goes through a spool (:mod:`hangard.copy.spool`): downloaded whole to an
anonymous temporary file in the host's one slot, then uploaded from it, so at
most one request is ever in flight to the host (issue 9, item 19).

The host is a real registry behind the deliberate fake
:class:`~tests.harness.faults.FaultProxy`: it refuses mounts (a registry 2.8
always mounts within itself) and counts a request in flight until the last
piece of its answer, so a blob stream still being read while an upload runs
is seen.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hangard.copy import Copier
from hangard.copy.spool import Spool
from hangard.errors import DigestMismatchError, OperationError
from hangard.registry.options import RegistryOptions
from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.faults import FaultProxy
from tests.harness.images import Image, Layer, make_layer
from tests.harness.registry import Registry
from tests.helpers_copy import big_layer, image_with_layers, make_client, ref
from tests.test_copy_cancel import uploads

#: Far more than the socket buffers and the copier's pipeline hold, so a
#: streamed copy would have the GET and the PUT open together.
BIG = 24 << 20


def open_files_in(directory: Path) -> list[str]:
    """The files of this process open in ``directory``: an unlinked spool
    shows as ``DIR/#123 (deleted)``."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(f"{directory}/"):
            found.append(target)
    return found


def spool_left(directory: Path) -> list[str]:
    """What a spool left in ``directory``: open files, or names."""
    return open_files_in(directory) + [str(p) for p in directory.iterdir()]


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temporary directory, for this test only."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def one_slot_host(registry: Registry, fault_proxy: FaultProxyFactory) -> FaultProxy:
    proxy = fault_proxy(registry)
    proxy.refuse_mounts()
    return proxy


def big_image(seed: int) -> tuple[Image, Layer]:
    big = big_layer(BIG, seed=seed)
    return image_with_layers([big, make_layer(seed + 1)], seed=seed), big


async def wait_for(predicate: Callable[[], object], what: str) -> None:
    """Poll ``predicate()`` until true, for 20 seconds at most."""
    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not true after 20 s"
        await asyncio.sleep(0.02)  # the poll interval


@pytest.mark.parametrize("chunk_size", [None, 4 << 20])
async def test_a_same_host_copy_with_one_slot_and_no_mount_keeps_one_request_in_flight(
    plain_registry: Registry,
    fault_proxy: FaultProxyFactory,
    spool_dir: Path,
    chunk_size: int | None,
) -> None:
    image, big = big_image(7100)
    images.push_image(plain_registry, "same/src", image, "v1")
    proxy = one_slot_host(plain_registry, fault_proxy)
    hosts = {proxy.host: RegistryOptions(http=True, max_concurrency=1, chunk_size=chunk_size)}
    async with make_client(hosts=hosts) as client:
        await client.access.ping(proxy.host)
        # a client over its cap releases the held requests at once
        proxy.hold(r"^/v2/same/", until_in_flight=2, timeout=0.5)
        result = await asyncio.wait_for(
            Copier(client).copy(ref(proxy, "same/src", "v1"), ref(proxy, "same/dst", "v1")),
            timeout=120,
        )

    assert proxy.mounts_refused >= 1
    assert proxy.max_in_flight == 1
    assert result.source_digest == result.target_digest == image.digest
    assert images.get_manifest_raw(plain_registry, "same/dst", "v1") == image.manifest
    assert images.get_blob(plain_registry, "same/dst", big.digest) == big.data
    opened, closed = uploads(plain_registry)
    assert opened == closed
    assert spool_left(spool_dir) == []


async def test_a_spooled_blob_that_does_not_match_its_digest_is_never_uploaded(
    plain_registry: Registry, fault_proxy: FaultProxyFactory, spool_dir: Path
) -> None:
    image, big = big_image(7200)
    images.push_image(plain_registry, "same/src", image, "v1")
    proxy = one_slot_host(plain_registry, fault_proxy)
    proxy.tamper(rf"/blobs/{big.digest}$", body=lambda data: data[:-1] + b"!")
    hosts = {proxy.host: RegistryOptions(http=True, max_concurrency=1)}
    async with make_client(hosts=hosts) as client:
        await client.access.ping(proxy.host)
        with pytest.raises(DigestMismatchError):
            await asyncio.wait_for(
                Copier(client).copy(ref(proxy, "same/src", "v1"), ref(proxy, "same/dst", "v1")),
                timeout=120,
            )

    assert proxy.max_in_flight == 1
    assert not images.blob_exists(plain_registry, "same/dst", big.digest)
    assert not images.manifest_exists(plain_registry, "same/dst", "v1")
    opened, closed = uploads(plain_registry)
    assert opened >= 1
    assert opened == closed, "the refused mount's upload was not DELETEd"
    assert spool_left(spool_dir) == []


async def test_a_copy_cancelled_while_spooling_leaves_no_spool_and_no_upload(
    plain_registry: Registry, fault_proxy: FaultProxyFactory, spool_dir: Path
) -> None:
    image, big = big_image(7300)
    images.push_image(plain_registry, "same/src", image, "v1")
    proxy = one_slot_host(plain_registry, fault_proxy)
    hosts = {proxy.host: RegistryOptions(http=True, max_concurrency=1)}
    async with make_client(hosts=hosts) as client:
        await client.access.ping(proxy.host)
        proxy.hold(rf"^/v2/same/src/blobs/{big.digest}$", until_in_flight=99, timeout=30)
        copy = asyncio.ensure_future(
            Copier(client).copy(ref(proxy, "same/src", "v1"), ref(proxy, "same/dst", "v1"))
        )
        await wait_for(lambda: proxy.count("GET", rf"/blobs/{big.digest}$"), "the big GET")
        assert len(open_files_in(spool_dir)) == 1  # its spool, open while the GET waits
        copy.cancel()
        with pytest.raises(asyncio.CancelledError):
            await copy

    assert spool_left(spool_dir) == []
    opened, closed = uploads(plain_registry)
    assert opened >= 1
    assert opened == closed, "the refused mount's upload was not DELETEd"
    assert not images.manifest_exists(plain_registry, "same/dst", "v1")


async def test_a_spool_refuses_a_declared_size_its_directory_has_no_room_for(
    spool_dir: Path,
) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        yield b"never read"

    async with Spool("blob r/x@sha256:1") as spool:
        with pytest.raises(OperationError) as caught:
            await spool.fill(nothing(), 1 << 60)
    assert f"could not spool blob r/x@sha256:1 to {spool_dir}" in caught.value.message
    assert caught.value.remedy is not None and "max_concurrency: 2" in caught.value.remedy
    assert spool_left(spool_dir) == []
