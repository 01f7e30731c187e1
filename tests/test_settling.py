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
from hangard.core.manifest import digest_of, parse_manifest
from hangard.core.reference import parse_reference
from hangard.errors import DigestMismatchError, ResponseError
from hangard.registry.referrers import push_referrer
from hangard.registry.settling import DELAYS
from tests.harness.hostile import (
    MANIFEST,
    Handler,
    HostileRegistry,
    Responder,
    client_for,
    json_reply,
)
from tests.helpers_clock import FakeClock

#: A referrer of MANIFEST (an OCI 1.1 ``subject``), as an SBOM would be.
REFERRER = json.dumps(
    {
        **json.loads(MANIFEST),
        "artifactType": "application/vnd.example.sbom",
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": digest_of(MANIFEST), "size": 0},
    }
).encode()


def _refusing(
    times: int, code: str, headers: dict[str, str] | None = None
) -> tuple[list[int], Responder]:
    """A manifest PUT responder: ``code`` the first ``times`` times, then
    201 with ``headers``."""
    seen: list[int] = []
    refusal = json_reply(400, {"errors": [{"code": code, "message": "unknown"}]})
    created = json_reply(201, b"", headers)

    def respond(h: Handler, m: re.Match[str]) -> None:
        seen.append(1)
        (refusal if len(seen) <= times else created)(h, m)

    return seen, respond


@pytest.mark.parametrize("code", ["MANIFEST_BLOB_UNKNOWN", "DIGEST_INVALID", "BLOB_UNKNOWN"])
async def test_an_unsettled_refusal_is_retried_until_the_push_lands(
    hostile: HostileRegistry, code: str
) -> None:
    seen, respond = _refusing(2, code)
    hostile.route(r"/manifests/", respond, method="PUT")
    clock = FakeClock()
    manifest = parse_manifest(MANIFEST)
    async with client_for(hostile, clock=clock) as client:
        digest = await client.put_manifest(parse_reference(f"{hostile.host}/a/b:1"), manifest)
    assert digest == manifest.digest
    assert len(seen) == 3
    assert clock.sleeps[-2:] == list(DELAYS[:2])


async def test_a_refusal_that_persists_is_reported_as_it_came(hostile: HostileRegistry) -> None:
    seen, respond = _refusing(99, "MANIFEST_BLOB_UNKNOWN")
    hostile.route(r"/manifests/", respond, method="PUT")
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
    hostile.route(r"/manifests/", respond, method="PUT")
    async with client_for(hostile, clock=FakeClock()) as client:
        with pytest.raises(ResponseError):
            await client.put_manifest(
                parse_reference(f"{hostile.host}/a/b:1"), parse_manifest(MANIFEST)
            )
    assert len(seen) == 1


async def test_a_referrer_push_is_retried_until_it_lands(hostile: HostileRegistry) -> None:
    """A referrer goes through the same manifest push as an image: refused
    once before the registry settled, it is pushed again."""
    referrer = parse_manifest(REFERRER)
    seen, respond = _refusing(1, "MANIFEST_BLOB_UNKNOWN", {"OCI-Subject": digest_of(MANIFEST)})
    hostile.route(r"/manifests/", respond, method="PUT")
    clock = FakeClock()
    async with client_for(hostile, clock=clock) as client:
        ref = parse_reference(f"{hostile.host}/a/b@{referrer.digest}")
        assert await push_referrer(client, ref, referrer) is True
    assert len(seen) == 2
    assert clock.sleeps[-1:] == [DELAYS[0]]


async def test_a_referrer_echoed_under_another_digest_is_an_error(
    hostile: HostileRegistry,
) -> None:
    referrer = parse_manifest(REFERRER)
    other = "sha256:" + "d" * 64
    hostile.route(
        r"/manifests/", json_reply(201, b"", {"Docker-Content-Digest": other}), method="PUT"
    )
    async with client_for(hostile, clock=FakeClock()) as client:
        ref = parse_reference(f"{hostile.host}/a/b@{referrer.digest}")
        with pytest.raises(DigestMismatchError) as caught:
            await push_referrer(client, ref, referrer)
    assert (caught.value.expected, caught.value.actual) == (referrer.digest, other)
