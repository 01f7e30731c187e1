"""Index fan-out (issue 9, item 4): a copy fetches each child digest once,
follows at most ``MAX_INDEX_DEPTH`` levels of index and
``MAX_INDEX_CHILDREN`` manifests, and says so clearly. Nested indexes are
pushed to a real registry; requests are counted in its access log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hangard.copy import Copier
from hangard.copy.engine import MAX_INDEX_CHILDREN, MAX_INDEX_DEPTH
from hangard.errors import InvalidManifestError
from hangard.registry.client import RegistryClient
from tests.harness import images
from tests.harness.images import OCI_INDEX
from tests.harness.registry import Registry
from tests.helpers_copy import blob_writes, ref


def push_raw_index(registry: Registry, repo: str, entries: list[dict[str, Any]], tag: str) -> str:
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    with images.RegistryClient(registry) as c:
        c.put_manifest(repo, tag, raw, OCI_INDEX)
    return images.sha256_digest(raw)


def push_nested(registry: Registry, repo: str, levels: int) -> str:
    """``levels`` indexes, each listing the one below it twice; the bottom
    one lists one image twice. Returns the tag of the top index."""
    leaf = images.push_image(registry, repo, images.build_image(7))
    below = leaf.descriptor()
    for level in range(1, levels + 1):
        digest = push_raw_index(registry, repo, [below, below], f"level{level}")
        size = len(images.get_manifest_raw(registry, repo, f"level{level}"))
        below = {"mediaType": OCI_INDEX, "digest": digest, "size": size}
    return f"level{levels}"


def manifest_gets(registry: Registry, repo: str) -> list[str]:
    return [
        e.path
        for e in registry.access_log()
        if e.method == "GET" and e.path.startswith(f"/v2/{repo}/manifests/")
    ]


async def test_an_index_listing_a_child_twice_copies_it_once(
    client: RegistryClient, plain_registry: Registry, plain_registry2: Registry
) -> None:
    top = push_nested(plain_registry, "dup/app", MAX_INDEX_DEPTH)
    plain_registry.sync_log()
    before = len(manifest_gets(plain_registry, "dup/app"))

    result = await Copier(client).copy(
        ref(plain_registry, "dup/app", top), ref(plain_registry2, "dup/app", top)
    )

    gets = manifest_gets(plain_registry, "dup/app")[before:]
    assert len(gets) == len(set(gets)) == MAX_INDEX_DEPTH + 1  # the top, then each child once
    assert result.manifests_pushed == MAX_INDEX_DEPTH + 1
    assert images.manifest_exists(plain_registry2, "dup/app", top)


async def test_an_index_nested_too_deep_is_refused_after_few_requests(
    client: RegistryClient, plain_registry: Registry, plain_registry2: Registry
) -> None:
    top = push_nested(plain_registry, "deep/app", 24)
    plain_registry.sync_log()
    before = len(plain_registry.access_log())

    with pytest.raises(InvalidManifestError, match=f"more than {MAX_INDEX_DEPTH} levels"):
        await Copier(client).copy(
            ref(plain_registry, "deep/app", top), ref(plain_registry2, "deep/app", top)
        )

    assert len(plain_registry.access_log()) - before <= MAX_INDEX_DEPTH + 2
    assert blob_writes(plain_registry2) == 0
    assert not images.manifest_exists(plain_registry2, "deep/app", top)


async def test_an_index_with_too_many_children_is_refused_before_any_request(
    client: RegistryClient, plain_registry: Registry, plain_registry2: Registry
) -> None:
    leaf = images.push_image(plain_registry, "wide/app", images.build_image(8))
    entries = [leaf.descriptor(annotations={"n": str(i)}) for i in range(MAX_INDEX_CHILDREN + 1)]
    push_raw_index(plain_registry, "wide/app", entries, "v1")
    plain_registry.sync_log()
    before = len(plain_registry.access_log())

    with pytest.raises(InvalidManifestError, match=f"more than the {MAX_INDEX_CHILDREN}"):
        await Copier(client).copy(
            ref(plain_registry, "wide/app", "v1"), ref(plain_registry2, "wide/app", "v1")
        )

    after = [e for e in plain_registry.access_log()[before:] if e.path != "/v2/"]
    assert [(e.method, e.uri) for e in after] == [("GET", "/v2/wide/app/manifests/v1")]
    assert blob_writes(plain_registry2) == 0
