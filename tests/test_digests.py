"""Digests from a manifest or a registry header are validated before they
become a request path or reach :mod:`hashlib` (issue 9, item 3).

Only ``sha256:`` + 64 and ``sha512:`` + 128 lowercase hex digits pass. The
client-level tests use the deliberate fake
:class:`~tests.harness.hostile.HostileRegistry`: no real registry serves a
descriptor whose digest is ``sha256:../../etc/passwd``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hangard.core import mediatypes as mt
from hangard.core.manifest import digest_of, parse_manifest
from hangard.core.reference import Repository, parse_digest
from hangard.errors import InvalidManifestError, InvalidReferenceError, RegistryError
from hangard.registry.client import RegistryClient
from hangard.registry.paths import repo_path
from tests.harness.hostile import HostileRegistry, client_for, json_reply
from tests.helpers_cli import Hangard

GOOD = digest_of(b"good")
IMAGE = "example.com/app:v1"
BAD = [
    "sha256:../../etc/passwd",
    "nope:abc",
    "md5:" + "a" * 32,
    "sha384:" + "a" * 96,
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "sha512:" + "a" * 64,
]


def _image(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": GOOD,
            "size": 4,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": GOOD, "size": 4}
        ],
    }
    doc.update(overrides)
    return doc


def _index(child: str) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": child, "size": 10}],
    }


def _where(bad: str) -> dict[str, dict[str, Any]]:
    descriptor = {"mediaType": mt.OCI_MANIFEST, "digest": bad, "size": 4}
    return {
        "child": _index(bad),
        "config": _image(
            config={**descriptor, "mediaType": "application/vnd.oci.image.config.v1+json"}
        ),
        "layer": _image(layers=[descriptor]),
        "subject": _image(subject=descriptor),
    }


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("place", ["child", "config", "layer", "subject"])
def test_invalid_descriptor_digest_is_a_clear_manifest_error(place: str, bad: str) -> None:
    raw = json.dumps(_where(bad)[place]).encode()
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(raw, image=IMAGE)
    assert str(info.value).startswith(f"invalid digest {bad!r} in manifest of {IMAGE}")


@pytest.mark.parametrize("bad", ["nope:abc", "md5:" + "a" * 32, "sha384:" + "a" * 96])
def test_expected_digest_never_reaches_hashlib_unchecked(bad: str) -> None:
    with pytest.raises(InvalidManifestError, match="invalid digest"):
        parse_manifest(json.dumps(_image()).encode(), expected_digest=bad, image=IMAGE)


@pytest.mark.parametrize("bad", BAD)
def test_parse_digest_accepts_only_registered_algorithms(bad: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_digest(bad)
    assert parse_digest("sha512:" + "ab" * 64)


@pytest.mark.parametrize("where", ["blobs/../../../etc/passwd", "manifests/..", "/etc/passwd"])
def test_no_path_is_built_outside_the_repository(where: str) -> None:
    with pytest.raises(RegistryError, match="would leave /v2/app/"):
        repo_path(Repository("example.com", "app"), where)


def _client(server: HostileRegistry) -> RegistryClient:
    return client_for(server, attempts=1)


async def test_index_child_with_a_path_digest_never_leaves_the_repository(
    hostile: HostileRegistry, hangard: Hangard
) -> None:
    index = json.dumps(_index("sha256:../../../../etc/passwd")).encode()
    hostile.route(r"/manifests/", json_reply(200, index, {"Content-Type": mt.OCI_INDEX}))
    hostile.route(
        r"/manifests/", json_reply(200, b"", {"Content-Type": mt.OCI_INDEX}), method="HEAD"
    )
    async with _client(hostile) as client:
        with pytest.raises(InvalidManifestError) as info:
            await client.get_manifest(Repository(hostile.host, "app").tag("v1"))
    assert "invalid digest 'sha256:../../../../etc/passwd' in manifest of" in str(info.value)

    run = hangard(
        "copy",
        f"docker://{hostile.host}/app:v1",
        "docker://127.0.0.1:1/dst:v1",
        "--src-plain-http",
        "--dest-plain-http",
        "--no-progress",
    )
    assert run.code == 1, run.err
    assert "invalid digest 'sha256:../../../../etc/passwd' in manifest of" in run.err
    assert "Traceback" not in run.err
    assert hostile.paths()
    assert all(p == "/v2/" or p.startswith("/v2/app/") for p in hostile.paths())


async def test_invalid_docker_content_digest_header_is_not_trusted(
    hostile: HostileRegistry,
) -> None:
    raw = json.dumps(_image()).encode()
    evil = {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": "sha256:../../etc/passwd"}
    hostile.route(r"/manifests/", json_reply(200, raw, evil), method=None)
    async with _client(hostile) as client:
        found = await client.head_manifest(Repository(hostile.host, "app").tag("v1"))
    assert found is not None and found.digest == digest_of(raw)
    assert all(p == "/v2/" or p.startswith("/v2/app/manifests/") for p in hostile.paths())
