"""A manifest push refused before the registry has settled the writes it
depends on is retried briefly (:mod:`hangard.registry.settling`).

No local registry refuses on cue: distribution does it only under a race
(two writers of the same content, tests/test_shards.py) or on an eventually
consistent backend (S3), so the refusals come from the hostile fake
(:mod:`tests.harness.hostile`), behind a real client, with a fake clock."""

from __future__ import annotations

import json
import re

import pytest

from hangard.core import mediatypes as mt
from hangard.core.manifest import parse_manifest
from hangard.core.reference import parse_reference
from hangard.errors import ResponseError
from hangard.registry.settling import DELAYS
from tests.harness.hostile import Handler, HostileRegistry, client_for, json_reply
from tests.helpers_clock import FakeClock

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "c" * 64,
            "size": 2,
        },
        "layers": [],
    }
).encode()


def _refusing(times: int, code: str) -> tuple[list[int], object]:
    """A manifest PUT responder: ``code`` the first ``times`` times, then 201."""
    seen: list[int] = []
    refusal = json_reply(400, {"errors": [{"code": code, "message": "unknown"}]})
    created = json_reply(201, b"")

    def respond(h: Handler, m: re.Match[str]) -> None:
        seen.append(1)
        (refusal if len(seen) <= times else created)(h, m)

    return seen, respond


@pytest.mark.parametrize("code", ["MANIFEST_BLOB_UNKNOWN", "DIGEST_INVALID", "BLOB_UNKNOWN"])
async def test_an_unsettled_refusal_is_retried_until_the_push_lands(
    hostile: HostileRegistry, code: str
) -> None:
    seen, respond = _refusing(2, code)
    hostile.route(r"/manifests/", respond, method="PUT")  # type: ignore[arg-type]
    clock = FakeClock()
    manifest = parse_manifest(MANIFEST)
    async with client_for(hostile, clock=clock) as client:
        digest = await client.put_manifest(parse_reference(f"{hostile.host}/a/b:1"), manifest)
    assert digest == manifest.digest
    assert len(seen) == 3
    assert clock.sleeps[-2:] == list(DELAYS[:2])


async def test_a_refusal_that_persists_is_reported_as_it_came(hostile: HostileRegistry) -> None:
    seen, respond = _refusing(99, "MANIFEST_BLOB_UNKNOWN")
    hostile.route(r"/manifests/", respond, method="PUT")  # type: ignore[arg-type]
    clock = FakeClock()
    async with client_for(hostile, clock=clock) as client:
        with pytest.raises(ResponseError) as caught:
            await client.put_manifest(
                parse_reference(f"{hostile.host}/a/b:1"), parse_manifest(MANIFEST)
            )
    assert caught.value.code == "MANIFEST_BLOB_UNKNOWN"
    assert len(seen) == len(DELAYS) + 1


async def test_other_refusals_are_not_retried(hostile: HostileRegistry) -> None:
    seen, respond = _refusing(99, "MANIFEST_INVALID")
    hostile.route(r"/manifests/", respond, method="PUT")  # type: ignore[arg-type]
    async with client_for(hostile, clock=FakeClock()) as client:
        with pytest.raises(ResponseError):
            await client.put_manifest(
                parse_reference(f"{hostile.host}/a/b:1"), parse_manifest(MANIFEST)
            )
    assert len(seen) == 1
