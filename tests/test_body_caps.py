"""Every answer body is capped while it streams (issue 9, item 2): manifests
at 4 MiB, error bodies, token replies, tag-list pages and the ``/v2/``
answer at 1 MiB. Past the cap hangard stops reading and says which image
and registry sent it; peak RSS stays bounded, measured in a subprocess as
``test_rss.py`` does.

Deliberate fakes: no real registry streams an endless body, so the
:class:`~tests.harness.hostile.HostileRegistry` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hangard.core import mediatypes as mt
from hangard.core.reference import Repository
from hangard.errors import BodyTooLargeError
from hangard.registry.client import RegistryClient
from tests.harness.hostile import HostileRegistry, client_for, endless, json_reply
from tests.helpers_rss import RSS_LIMIT_KIB, peak_rss

MANIFEST = {"Content-Type": mt.OCI_MANIFEST}


def _client(server: HostileRegistry) -> RegistryClient:
    return client_for(server, attempts=2)


def _bearer(server: HostileRegistry) -> None:
    challenge = f'Bearer realm="{server.url}/token",service="hostile"'
    server.route(r"^/v2/$", json_reply(401, b"", {"WWW-Authenticate": challenge}))


async def _fetch(server: HostileRegistry, what: str) -> None:
    repo = Repository(server.host, "app")
    async with _client(server) as client:
        if what == "tags":
            await client.list_tags(repo)
        else:
            await client.get_manifest(repo.tag("v1"))


@pytest.mark.parametrize(
    ("case", "shown"),
    [
        ("manifest", "manifest larger than 4 MiB"),
        ("error body", "error body (HTTP 500) larger than 1 MiB"),
        ("token", "token server reply larger than 1 MiB"),
        ("ping", "/v2/ answer larger than 1 MiB"),
        ("tags", "larger than 1 MiB"),
        ("declared", "manifest larger than 4 MiB"),
    ],
)
async def test_an_endless_body_is_cut_at_its_cap(
    hostile: HostileRegistry, case: str, shown: str
) -> None:
    if case == "manifest":
        hostile.route(r"/manifests/", endless(200, MANIFEST, prefix=b'{"layers":['))
    elif case == "error body":
        hostile.route(r"/manifests/", endless(500, {"Content-Type": "text/html"}))
    elif case == "token":
        _bearer(hostile)
        hostile.route(r"^/token$", endless(200, {"Content-Type": "application/json"}))
    elif case == "ping":
        hostile.route(r"^/v2/$", endless(200))
    elif case == "tags":
        hostile.route(r"/tags/list$", endless(200, {"Content-Type": "application/json"}))
    else:  # a Content-Length past the cap is refused before reading
        hostile.route(r"/manifests/", json_reply(200, b"{}", {"Content-Length": str(5 << 20)}))
    with pytest.raises(BodyTooLargeError) as info:
        await _fetch(hostile, "tags" if case == "tags" else "manifest")
    text = str(info.value)
    assert shown in text
    assert f"registry {hostile.host}" in text
    assert f"image {hostile.host}/app" in text
    assert info.value.reason == "other"


SCRIPT = """
import asyncio, sys
from hangard.core.reference import Repository
from hangard.errors import BodyTooLargeError
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions

async def main(manifests, tokens):
    for host in (manifests, tokens):
        options = ClientOptions(registries={host: RegistryOptions(http=True)}, max_attempts=1)
        async with RegistryClient(options, CredentialStore(environ={})) as client:
            for tag in ("endless", "fail"):
                try:
                    await client.get_manifest(Repository(host, "app").tag(tag))
                except BodyTooLargeError as exc:
                    print(exc)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.slow
def test_endless_bodies_keep_peak_rss_bounded(tmp_path: Path) -> None:
    """Without the cap each answer would be read whole: 256 MiB apiece."""
    limit = 256 << 20
    with HostileRegistry() as manifests, HostileRegistry() as tokens:
        manifests.route(r"/manifests/endless$", endless(200, MANIFEST, limit=limit))
        manifests.route(r"/manifests/fail$", endless(500, limit=limit))
        _bearer(tokens)
        tokens.route(r"^/token$", endless(200, limit=limit))
        command = [sys.executable, "-c", SCRIPT, manifests.host, tokens.host]
        measured = peak_rss(command, tmp_path)
    assert measured.exit_code == 0, measured.stderr
    assert measured.stdout.count("larger than") == 4, measured.stdout
    assert measured.maxrss_kib < RSS_LIMIT_KIB, f"peak RSS {measured.maxrss_kib} KiB"
