"""Blobs whose size nothing declares are capped (issue 9, item 6): a source
that never stops sending a schema1 layer gets its target upload cancelled
(``DELETE``) at ``ClientOptions.max_unknown_blob_size``, and nothing is left
in the target's upload area."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hangard.copy import Copier
from hangard.errors import BlobTooLargeError
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness.endless import EndlessLayerRegistry
from tests.harness.registry import Registry
from tests.helpers_copy import make_client, ref

MiB = 1 << 20
CAP = 4 * MiB


@pytest.fixture
def endless() -> Iterator[EndlessLayerRegistry]:
    fake = EndlessLayerRegistry(limit=256 * MiB).start()
    yield fake
    fake.stop()


def dangling_uploads(registry: Registry, repo: str) -> list[Path]:
    """Upload data left in the registry's upload area. (Distribution 2.8 may
    leave an empty ``hashstates`` entry behind a DELETEd upload; no bytes.)"""
    root = registry.storage / "docker/registry/v2/repositories" / repo / "_uploads"
    return [p for p in root.rglob("data") if p.stat().st_size] if root.exists() else []


def test_the_default_cap_is_large() -> None:
    assert ClientOptions().max_unknown_blob_size == 10 << 30


@pytest.mark.parametrize("chunk_size", [None, MiB], ids=["default-chunks", "1-MiB-chunks"])
async def test_an_endless_layer_is_cut_at_the_cap_and_its_upload_deleted(
    endless: EndlessLayerRegistry, plain_registry2: Registry, chunk_size: int | None
) -> None:
    hosts = {
        endless.host: RegistryOptions(http=True),
        plain_registry2.host: RegistryOptions(http=True, chunk_size=chunk_size),
    }
    async with make_client(plain_registry2, hosts=hosts, max_unknown_blob_size=CAP) as client:
        with pytest.raises(BlobTooLargeError, match=f"more than {CAP} bytes"):
            await Copier(client).copy(
                ref(endless, "old/app", "v1"), ref(plain_registry2, "old/app", "v1")
            )

    assert endless.sent < CAP + 32 * MiB  # what was in flight when the cap was hit
    log = plain_registry2.access_log()
    assert [e.status for e in log if e.method == "DELETE" and "/blobs/uploads/" in e.path] == [204]
    assert dangling_uploads(plain_registry2, "old/app") == []
    assert not any(e.method == "PUT" and "/manifests/" in e.path for e in log)
