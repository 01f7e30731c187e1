"""A compressed answer body is inflated within its cap
(:mod:`hangard.registry.bodies`): a small gzip "bomb" costs at most the
cap, never its expansion; a gzip-encoded manifest still reads byte for byte;
an encoding hangard does not decode is refused by name.

Deliberate fakes: distribution never compresses its answers, so the
:class:`~tests.harness.hostile.HostileRegistry` does.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from pathlib import Path

import pytest

from hangard.core import mediatypes as mt
from hangard.core.manifest import digest_of
from hangard.core.reference import Repository
from hangard.errors import RegistryError
from tests.harness.hostile import MANIFEST, HostileRegistry, client_for, json_reply
from tests.helpers_rss import RSS_LIMIT_KIB, peak_rss


def _route(server: HostileRegistry, tag: str, body: bytes, encoding: str) -> None:
    headers = {"Content-Type": mt.OCI_MANIFEST, "Content-Encoding": encoding}
    server.route(rf"/manifests/{tag}$", json_reply(200, body, headers))


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda b: b)],
)
async def test_an_encoded_manifest_reads_byte_for_byte(
    hostile: HostileRegistry, encoding: str, encode: object
) -> None:
    assert callable(encode)
    _route(hostile, "v1", encode(MANIFEST), encoding)
    async with client_for(hostile) as client:
        manifest = await client.get_manifest(Repository(hostile.host, "app").tag("v1"))
    assert manifest.raw == MANIFEST
    assert manifest.digest == digest_of(MANIFEST)


async def test_an_encoding_hangard_does_not_decode_is_refused_by_name(
    hostile: HostileRegistry,
) -> None:
    _route(hostile, "v1", b"\x00\x01", "br")
    async with client_for(hostile) as client:
        with pytest.raises(RegistryError, match="Content-Encoding 'br'"):
            await client.get_manifest(Repository(hostile.host, "app").tag("v1"))


async def test_a_corrupt_gzip_body_is_one_clear_error(hostile: HostileRegistry) -> None:
    _route(hostile, "v1", b"\x1f\x8b not gzip at all", "gzip")
    async with client_for(hostile) as client:
        with pytest.raises(RegistryError, match="not valid gzip"):
            await client.get_manifest(Repository(hostile.host, "app").tag("v1"))


SCRIPT = """
import asyncio, sys
from hangard.core.reference import Repository
from hangard.errors import BodyTooLargeError
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions

async def main(host):
    options = ClientOptions(registries={host: RegistryOptions(http=True)}, max_attempts=1)
    async with RegistryClient(options, CredentialStore(environ={})) as client:
        try:
            await client.get_manifest(Repository(host, "app").tag("bomb"))
        except BodyTooLargeError as exc:
            print(exc)

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.slow
def test_a_gzip_bomb_costs_at_most_the_cap(tmp_path: Path) -> None:
    """256 MiB of zeros in a quarter of a MiB of gzip: inflated whole, one
    chunk of it would be hundreds of MiB; within the cap it stops at 4 MiB."""
    bomb = gzip.compress(bytes(256 << 20), compresslevel=9)
    assert len(bomb) < 1 << 20
    with HostileRegistry() as server:
        _route(server, "bomb", bomb, "gzip")
        measured = peak_rss([sys.executable, "-c", SCRIPT, server.host], tmp_path)
    assert measured.exit_code == 0, measured.stderr
    assert "manifest larger than 4 MiB" in measured.stdout, measured.stdout + measured.stderr
    assert measured.maxrss_kib < RSS_LIMIT_KIB, f"peak RSS {measured.maxrss_kib} KiB"


async def test_a_manifest_head_keeps_its_size(hostile: HostileRegistry) -> None:
    """The capped read leaves an identity answer's headers alone: a HEAD's
    Content-Length is the manifest's size."""
    headers = {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": digest_of(MANIFEST)}
    hostile.route(r"/manifests/v1$", json_reply(200, MANIFEST, headers), method="HEAD")
    async with client_for(hostile) as client:
        found = await client.head_manifest(Repository(hostile.host, "app").tag("v1"))
    assert found is not None
    assert (found.digest, found.size) == (digest_of(MANIFEST), len(MANIFEST))
