"""Tag-list pagination always ends (issue 9, item 5): a loop on the
normalised URL, too many pages or too many tags is a clear error, and the
first page is fetched once.

The loops and endless pages come from the deliberate fake
:class:`~tests.harness.hostile.HostileRegistry` (no real registry paginates
in circles); the first-page check runs against a real ``docker-registry``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

import hangard.registry.client as client_module
import hangard.registry.pages as tagpages_module
from hangard.core.reference import Repository
from hangard.errors import RegistryError
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from tests.harness import images
from tests.harness.hostile import Handler, HostileRegistry, json_reply
from tests.harness.registry import Registry
from tests.helpers_copy import make_client

Page = Callable[[dict[str, list[str]]], tuple[list[str], str | None]]
"""query -> (tags, Link target or None)"""


def _serve(server: HostileRegistry, page: Page) -> None:
    def respond(h: Handler, m: re.Match[str]) -> None:
        tags, link = page(parse_qs(urlsplit(h.path).query))
        headers = {"Link": f'<{link}>; rel="next"'} if link else {}
        json_reply(200, {"name": "app", "tags": tags}, headers)(h, m)

    server.route(r"^/v2/app/tags/list$", respond)


async def _list(server: HostileRegistry) -> list[str]:
    options = ClientOptions(registries={server.host: RegistryOptions(http=True)})
    async with RegistryClient(options, CredentialStore(environ={})) as client:
        return await client.list_tags(Repository(server.host, "app"))


def _pages(server: HostileRegistry) -> list[dict[str, list[str]]]:
    return [r.query for r in server.requests() if r.path.endswith("/tags/list")]


async def test_a_link_to_the_page_itself_is_a_loop(hostile: HostileRegistry) -> None:
    _serve(hostile, lambda q: (["a"], f"{hostile.url}/v2/app/tags/list?n=1000"))
    with pytest.raises(RegistryError, match="pagination loops back"):
        await _list(hostile)
    assert _pages(hostile) == [{"n": ["1000"]}]  # the first page once


async def test_a_cycle_between_two_pages_is_a_loop(hostile: HostileRegistry) -> None:
    def page(q: dict[str, list[str]]) -> tuple[list[str], str | None]:
        if "last" in q:  # page B links back to page A, query in another order
            return ["b"], "/v2/app/tags/list?n=1000"
        return ["a"], "/v2/app/tags/list?last=a&n=1000"

    _serve(hostile, page)
    with pytest.raises(RegistryError, match="pagination loops back"):
        await _list(hostile)
    assert _pages(hostile) == [{"n": ["1000"]}, {"n": ["1000"], "last": ["a"]}]


async def test_endless_new_pages_stop_at_the_page_cap(
    hostile: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tagpages_module, "MAX_TAG_PAGES", 50)

    def page(q: dict[str, list[str]]) -> tuple[list[str], str | None]:
        k = int((q.get("page") or ["0"])[0])
        return [f"t{k}"], f"/v2/app/tags/list?n=1000&page={k + 1}"

    _serve(hostile, page)
    with pytest.raises(RegistryError, match="more than 50 pages") as info:
        await _list(hostile)
    assert f"tag list of {hostile.host}/app" in str(info.value)
    assert len(_pages(hostile)) == 50


async def test_too_many_tags_stop_at_the_tag_cap(
    hostile: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tagpages_module, "MAX_TAGS", 100)

    def page(q: dict[str, list[str]]) -> tuple[list[str], str | None]:
        k = int((q.get("page") or ["0"])[0])
        return [f"t{k}-{i}" for i in range(30)], f"/v2/app/tags/list?page={k + 1}"

    _serve(hostile, page)
    with pytest.raises(RegistryError, match="more than 100 tags"):
        await _list(hostile)
    assert len(_pages(hostile)) == 4


async def test_a_link_to_another_repository_is_refused(hostile: HostileRegistry) -> None:
    _serve(hostile, lambda q: (["a"], "/v2/other/tags/list?n=1000"))
    with pytest.raises(RegistryError, match="is not this tag list"):
        await _list(hostile)


async def test_a_page_that_is_not_a_tag_list_is_a_clear_error(hostile: HostileRegistry) -> None:
    hostile.route(r"/tags/list$", json_reply(200, json.dumps({"tags": [1, 2]}).encode()))
    with pytest.raises(RegistryError, match="is not"):
        await _list(hostile)


async def test_many_tags_with_small_pages_fetch_each_page_once(
    plain_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = images.push_oci_image(plain_registry, "app/many", "t00")
    expected = [f"t{i:02d}" for i in range(40)]
    with images.RegistryClient(plain_registry) as c:
        for tag in expected[1:]:
            c.put_manifest("app/many", tag, image.manifest, image.media_type)
    monkeypatch.setattr(client_module, "TAG_PAGE_SIZE", 7)
    async with make_client(plain_registry) as client:
        tags = await client.list_tags(Repository(plain_registry.host, "app/many"))
    assert sorted(tags) == expected
    pages = [e.uri for e in plain_registry.access_log() if e.path.endswith("/tags/list")]
    assert pages and len(pages) == len(set(pages))
    assert sum(1 for uri in pages if "last=" not in uri) == 1  # the first page once
