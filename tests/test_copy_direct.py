"""Blob transfers into an OCI layout (:mod:`hangard.copy.direct`): two
copies needing one blob share its transfer, and cancelling one of them does
not fail the other (the shared transfer is shielded from a waiter's
cancellation).

The source is a real registry behind the deliberate fake
:class:`~tests.harness.faults.FaultProxy`, which parks the shared blob's GET
until the test releases it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hangard.copy import Copier
from hangard.core.transports import LayoutReference
from hangard.registry.options import RegistryOptions
from tests.conftest import FaultProxyFactory
from tests.harness import images
from tests.harness.registry import Registry
from tests.helpers_copy import make_client, ref, shared_base_images


def layout_files(root: Path) -> set[str]:
    return {p.name for p in (root / "blobs" / "sha256").iterdir()}


async def test_cancelling_one_copy_does_not_fail_another_sharing_its_blob(
    plain_registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path
) -> None:
    first, second, base = shared_base_images()
    images.push_image(plain_registry, "app/one", first, "v1")
    images.push_image(plain_registry, "app/two", second, "v1")
    proxy = fault_proxy(plain_registry)
    proxy.hold(rf"/blobs/{base.digest}$", until_in_flight=99, timeout=60)
    layout = tmp_path / "layout"
    own = second.layers[1]
    assert own.digest != base.digest

    async with make_client(hosts={proxy.host: RegistryOptions(http=True)}) as client:
        copier = Copier(client)
        one = asyncio.ensure_future(
            copier.copy(ref(proxy, "app/one", "v1"), LayoutReference(str(layout), "one"))
        )
        deadline = time.monotonic() + 20
        while not proxy.count("GET", rf"/blobs/{base.digest}$"):
            assert time.monotonic() < deadline, "the shared blob's GET never came"
            await asyncio.sleep(0.02)  # the poll interval
        two = asyncio.ensure_future(
            copier.copy(ref(proxy, "app/two", "v1"), LayoutReference(str(layout), "two"))
        )
        # the second copy's own layer is written once all its blobs have
        # started: its wait on the shared base blob has begun by then
        while own.digest[7:] not in (layout_files(layout) if layout.is_dir() else set()):
            assert time.monotonic() < deadline, "the second copy's own layer never came"
            await asyncio.sleep(0.02)  # the poll interval
        one.cancel()
        with pytest.raises(asyncio.CancelledError):
            await one
        proxy.release_hold()
        result = await asyncio.wait_for(two, 60)

    assert result.target_digest == second.digest
    assert proxy.count("GET", rf"/blobs/{base.digest}$") == 1
    assert {b.digest[7:] for b in [second.config, *second.layers]} <= layout_files(layout)
    assert not [p for p in (layout / "blobs" / "sha256").iterdir() if p.name.startswith(".")]
