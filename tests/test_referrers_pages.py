"""A paged referrers list (``Link: <…>; rel="next"``, OCI distribution spec)
is read to its end, and only on the same registry and the same
``/v2/<repo>/referrers/<digest>`` path, within caps on pages and entries.

No local registry has the referrers API (distribution 2.8 answers 404), so
the API is the deliberate fake :class:`~tests.harness.referrers.FakeReferrers`
in front of a real registry, which holds the manifests; the copies land on a
real registry and skopeo reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hangard.registry.referrers as referrers_module
from hangard.core.cosign import referrers_fallback_tag
from hangard.core.reference import Repository
from hangard.errors import RegistryError
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import CredentialStore
from hangard.registry.options import ClientOptions, RegistryOptions
from hangard.registry.referrers import list_referrers
from tests.harness import attachments as att
from tests.harness import images, skopeo
from tests.harness.referrers import FakeReferrers
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

TYPES = [f"application/vnd.example.sbom.v{n}+json" for n in range(5)]


def _referrers(src: Registry, seed: int) -> tuple[images.Image, list[images.Image]]:
    """An image at ``lib/app:v1`` with five referrers pushed by digest."""
    image = images.push_oci_image(src, "lib/app", "v1", seed=seed)
    found = [att.referrer(image, t, seed=n) for n, t in enumerate(TYPES)]
    for referrer in found:
        images.push_image(src, "lib/app", referrer)
    return image, found


def _list_them(fake: FakeReferrers, image: images.Image, listed: list[images.Image]) -> None:
    fake.referrers[("lib/app", image.digest)] = [
        r.descriptor(artifactType=t) for r, t in zip(listed, TYPES, strict=True)
    ]


async def _ask(fake: FakeReferrers, digest: str) -> list[str] | None:
    options = ClientOptions(registries={fake.host: RegistryOptions(http=True)})
    async with RegistryClient(options, CredentialStore(environ={})) as client:
        found = await list_referrers(client, Repository(fake.host, "lib/app"), digest)
    return None if found is None else [d.digest for d in found]


def _pages(fake: FakeReferrers) -> list[dict[str, list[str]]]:
    return [r.query for r in fake.requests() if "/referrers/" in r.path]


def test_every_page_of_referrers_is_copied(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    src, dst = plain_registry, plain_registry2
    image, found = _referrers(src, seed=130)
    with FakeReferrers(src.host) as source:
        _list_them(source, image, found)
        source.page_size = 2  # three pages: 2 + 2 + 1
        doc = {
            "registries": {source.host: {"http": True}, dst.host: {"http": True}},
            "targets": {"m": {"registry": dst.host, "prefix": "m"}},
            "defaults": {"targets": ["m"]},
            "images": [{"source": f"{source.host}/lib/app", "tags": ["v1"]}],
        }
        config = tmp_path / "hangard.yaml"
        config.write_text(json.dumps(doc))
        run = hangard("sync", "--once", "--no-progress", str(config))
        assert run.code == 0, run.out + run.err
        assert _pages(source) == [{}, {"page": ["1"]}, {"page": ["2"]}]

    for referrer in found:  # all five, the last page's too
        assert skopeo.inspect_raw(dst, "m/lib/app", referrer.digest) == referrer.manifest
    fallback = json.loads(
        skopeo.inspect_raw(dst, "m/lib/app", referrers_fallback_tag(image.digest))
    )
    assert [m["digest"] for m in fallback["manifests"]] == [r.digest for r in found]


async def test_a_link_to_another_registry_is_refused_and_never_followed(
    plain_registry: Registry,
) -> None:
    image, found = _referrers(plain_registry, seed=131)
    with (
        FakeReferrers(plain_registry.host) as source,
        FakeReferrers(plain_registry.host) as elsewhere,
    ):
        _list_them(source, image, found)
        source.page_size = 2
        source.next_link = f"http://{elsewhere.host}/v2/lib/app/referrers/{image.digest}?page=1"
        with pytest.raises(RegistryError) as caught:
            await _ask(source, image.digest)
        assert elsewhere.requests() == []  # not asked at all: no credential went there
    message = str(caught.value)
    assert f"referrers list of {source.host}/lib/app@{image.digest} cannot be read" in message
    assert f"next page {source.next_link} is not this referrers list" in message
    assert caught.value.remedy is not None and "attachments.enabled: false" in caught.value.remedy


@pytest.mark.parametrize(
    "link",
    [
        "/v2/other/app/referrers/{digest}?page=1",  # another repository
        "/v2/lib/app/referrers/sha256:" + "0" * 64,  # another subject
        "/v2/lib/app/manifests/v1",  # not a referrers list
        "https://{host}/v2/lib/app/referrers/{digest}?page=1",  # another scheme
    ],
)
async def test_a_link_off_this_referrers_list_is_refused(
    plain_registry: Registry, link: str
) -> None:
    image, found = _referrers(plain_registry, seed=132)
    with FakeReferrers(plain_registry.host) as source:
        _list_them(source, image, found)
        source.page_size = 2
        source.next_link = link.format(digest=image.digest, host=source.host)
        with pytest.raises(RegistryError, match="is not this referrers list"):
            await _ask(source, image.digest)
        assert _pages(source) == [{}]  # the first page only
        assert len(source.requests()) == 2  # the /v2/ ping and that page


async def test_pages_and_entries_are_capped(
    plain_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, found = _referrers(plain_registry, seed=133)
    with FakeReferrers(plain_registry.host) as source:
        _list_them(source, image, found)
        source.page_size = 1
        assert await _ask(source, image.digest) == [r.digest for r in found]  # five pages
        monkeypatch.setattr(referrers_module, "MAX_REFERRER_PAGES", 4)
        with pytest.raises(RegistryError, match="more than 4 pages"):
            await _ask(source, image.digest)
        monkeypatch.setattr(referrers_module, "MAX_REFERRER_PAGES", 100)
        monkeypatch.setattr(referrers_module, "MAX_REFERRERS", 3)
        with pytest.raises(RegistryError, match="more than 3 referrers"):
            await _ask(source, image.digest)
        source.next_link = f"/v2/lib/app/referrers/{image.digest}?page=0"
        with pytest.raises(RegistryError, match="pagination loops back"):
            await _ask(source, image.digest)
