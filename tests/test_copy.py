"""The copy engine against real registries, cross-checked with skopeo and the
harness's own HTTP client (never with hangard itself)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from hangard.copy import NO_PLATFORM_MATCH, Copier, NullProgress
from hangard.copy.engine import PUSH_AUTH_REMEDY
from hangard.core.platform import parse_platform
from hangard.core.reference import ImageReference
from hangard.errors import AuthError, DigestMismatchError, InputError, NotFoundError
from hangard.registry.client import RegistryClient
from hangard.registry.credentials import Credentials
from tests.conftest import RegistryFactory
from tests.harness import images, skopeo
from tests.harness.images import (
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA2,
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    Index,
    make_layer,
)
from tests.harness.registry import Registry
from tests.helpers_copy import (
    big_layer,
    blob_writes,
    image_with_layers,
    make_client,
    mounts,
    ref,
    sha256,
    shared_base_images,
    uploads_of,
)

pytestmark = pytest.mark.usefixtures("tmp_authfile")

ANNOTATIONS = {"org.opencontainers.image.source": "https://example.invalid/hangard"}


def distinct_blobs(manifests: list[Image]) -> dict[str, int]:
    """``{digest: size}`` of every blob the manifests reference, once each."""
    return {b.digest: b.size for m in manifests for b in m.blobs}


def assert_same_on_target(dst: Registry, repo: str, tag: str, source: Index | Image) -> bytes:
    """skopeo reads back the source's exact bytes; returns them."""
    raw = skopeo.inspect_raw(dst, repo, tag)
    assert raw == source.manifest
    assert sha256(raw) == source.digest
    return raw


# ----------------------------------------------------------------- digests kept
@pytest.mark.parametrize("oci", [True, False], ids=["oci-index+attestations", "docker-list"])
async def test_index_copied_byte_for_byte(
    plain_registry: Registry,
    plain_registry2: Registry,
    client: RegistryClient,
    tmp_path: Path,
    oci: bool,
) -> None:
    index = images.build_index(7, oci=oci, attestations=oci, annotations=ANNOTATIONS)
    images.push_index(plain_registry, "multi/app", index, "v1")

    result = await Copier(client).copy(
        ref(plain_registry, "multi/app", "v1"), ref(plain_registry2, "mirror/app", "v1")
    )

    assert_same_on_target(plain_registry2, "mirror/app", "v1", index)
    for child in index.all_manifests:
        assert images.manifest_exists(plain_registry2, "mirror/app", child.digest)
        for blob in child.blobs:
            assert images.blob_exists(plain_registry2, "mirror/app", blob.digest)
    skopeo.copy_to_dir(plain_registry2, "mirror/app", "v1", tmp_path / "dir")
    assert (tmp_path / "dir" / "manifest.json").read_bytes() == index.manifest

    blobs = distinct_blobs(index.all_manifests)
    assert len(index.all_manifests) == (6 if oci else 3)
    assert result.digest_preserved
    assert result.source_digest == result.target_digest == index.digest
    assert result.media_type == index.media_type
    assert result.blobs_copied == len(blobs)
    assert result.blobs_mounted == result.blobs_present == 0
    assert result.bytes_moved == sum(blobs.values()) > 0
    assert result.manifests_pushed == len(index.all_manifests) + 1
    assert not result.up_to_date and result.skipped is None and result.converted_from is None
    assert sorted(result.platforms) == ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"]


@pytest.mark.parametrize(
    ("src_kind", "dst_kind"),
    [
        ("plain_registry", "tls_registry"),
        ("plain_registry", "basic_registry"),
        ("plain_registry", "token_registry"),
        ("token_registry", "plain_registry"),
    ],
)
async def test_index_copied_across_registry_kinds(
    request: pytest.FixtureRequest, tmp_path: Path, src_kind: str, dst_kind: str
) -> None:
    src: Registry = request.getfixturevalue(src_kind)
    dst: Registry = request.getfixturevalue(dst_kind)
    index = images.push_oci_index(src, "kinds/app", "v1", seed=3, attestations=True)

    async with make_client(src, dst) as c:
        result = await Copier(c).copy(ref(src, "kinds/app", "v1"), ref(dst, "kinds/copy", "v2"))

    assert_same_on_target(dst, "kinds/copy", "v2", index)
    skopeo.copy_to_dir(dst, "kinds/copy", "v2", tmp_path / "dir")
    assert result.digest_preserved
    assert result.blobs_copied == len(distinct_blobs(index.all_manifests))


@pytest.mark.parametrize("oci", [True, False], ids=["oci", "docker-schema2"])
async def test_single_manifest_copied_byte_for_byte(
    plain_registry: Registry,
    plain_registry2: Registry,
    client: RegistryClient,
    tmp_path: Path,
    oci: bool,
) -> None:
    push = images.push_oci_image if oci else images.push_schema2_image
    image = push(plain_registry, "single/app", "1.0", seed=11, layer_count=3)

    result = await Copier(client).copy(
        ref(plain_registry, "single/app", "1.0"), ref(plain_registry2, "single/app", "1.0")
    )

    assert_same_on_target(plain_registry2, "single/app", "1.0", image)
    response = images.get_manifest(plain_registry2, "single/app", "1.0")
    assert response.headers["content-type"] == (OCI_MANIFEST if oci else DOCKER_SCHEMA2)
    assert response.headers["docker-content-digest"] == image.digest
    skopeo.copy_to_dir(plain_registry2, "single/app", "1.0", tmp_path / "dir", all=False)
    assert result.digest_preserved and result.media_type == image.media_type
    assert result.blobs_copied == 4  # config + 3 layers
    assert result.bytes_moved == sum(b.size for b in image.blobs)
    assert result.manifests_pushed == 1
    assert result.platforms == ()  # no filter: the config is not even read


async def test_destination_without_tag_takes_the_source_tag(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    image = images.push_oci_image(plain_registry, "notag/app", "3.1", seed=4)
    dst = ImageReference(plain_registry2.host, "notag/app")  # neither tag nor digest

    by_tag = await Copier(client).copy(ref(plain_registry, "notag/app", "3.1"), dst)
    by_digest = await Copier(client).copy(ref(plain_registry, "notag/app", image.digest), dst)

    assert images.get_manifest_raw(plain_registry2, "notag/app", "3.1") == image.manifest
    assert by_tag.target_digest == image.digest
    assert by_digest.up_to_date and by_digest.target == str(dst)
    assert images.list_tags(plain_registry2, "notag/app") == ["3.1"]


async def test_digest_only_source_is_pushed_by_digest(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    image = images.push_oci_image(plain_registry, "pin/app", "v1", seed=6)

    result = await Copier(client).copy(
        ref(plain_registry, "pin/app", image.digest),
        ImageReference(plain_registry2.host, "pin/app"),
    )

    assert result.digest_preserved
    assert images.get_manifest_raw(plain_registry2, "pin/app", image.digest) == image.manifest
    assert images.list_tags(plain_registry2, "pin/app") == []


async def test_destination_pinned_to_another_digest_is_refused(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    image = images.push_oci_image(plain_registry, "pin/app", "v1", seed=6)
    other = sha256(b"something else")

    with pytest.raises(InputError, match="pinned to a digest"):
        await Copier(client).copy(
            ref(plain_registry, "pin/app", "v1"), ref(plain_registry2, "pin/app", other)
        )
    same = await Copier(client).copy(
        ref(plain_registry, "pin/app", "v1"), ref(plain_registry2, "pin/app", image.digest)
    )

    assert same.digest_preserved
    assert images.manifest_exists(plain_registry2, "pin/app", image.digest)
    assert images.list_tags(plain_registry2, "pin/app") == []


# ------------------------------------------------------------- platform filter
def index_doc(raw: bytes) -> dict[str, Any]:
    doc = json.loads(raw)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture
def multi(plain_registry: Registry) -> Index:
    """A 3-platform OCI index with attestations and annotations, tag ``v1``."""
    index = images.build_index(21, attestations=True, annotations=ANNOTATIONS)
    return images.push_index(plain_registry, "multi/app", index, "v1")


def entry_digests(raw: bytes) -> list[str]:
    return [m["digest"] for m in index_doc(raw)["manifests"]]


async def test_platform_subset_is_a_new_deterministic_index(
    plain_registry: Registry,
    plain_registry2: Registry,
    client: RegistryClient,
    multi: Index,
    tmp_path: Path,
) -> None:
    amd64, arm64, arm = multi.children
    arm64_att = multi.attestations[1]
    copier = Copier(client)
    src = ref(plain_registry, "multi/app", "v1")

    result = await copier.copy(
        src, ref(plain_registry2, "sub/app", "arm"), platforms=[parse_platform("linux/arm64")]
    )

    raw = skopeo.inspect_raw(plain_registry2, "sub/app", "arm")
    assert result.target_digest == sha256(raw)
    assert result.target_digest != result.source_digest == multi.digest
    assert not result.digest_preserved
    assert result.platforms == ("linux/arm64/v8",)
    doc = index_doc(raw)
    source_doc = index_doc(multi.manifest)
    assert doc["mediaType"] == OCI_INDEX and doc["annotations"] == ANNOTATIONS
    assert list(doc) == list(source_doc)  # key order kept
    assert entry_digests(raw) == [arm64.digest, arm64_att.digest]
    source_entries = {m["digest"]: m for m in source_doc["manifests"]}
    for entry in doc["manifests"]:
        assert entry == source_entries[entry["digest"]]  # descriptors untouched
    for kept in (arm64, arm64_att):
        assert images.manifest_exists(plain_registry2, "sub/app", kept.digest)
    for dropped in (amd64, arm, *multi.attestations[::2]):
        assert not images.manifest_exists(plain_registry2, "sub/app", dropped.digest)
        for layer in dropped.layers:
            assert not images.blob_exists(plain_registry2, "sub/app", layer.digest)
    assert result.blobs_copied == len(distinct_blobs([arm64, arm64_att]))
    assert result.manifests_pushed == 3
    skopeo.copy_to_dir(plain_registry2, "sub/app", "arm", tmp_path / "dir")

    # the same selection, spelt with the implied variant: the same bytes
    again = await copier.copy(
        src,
        ref(plain_registry2, "sub/app", "arm-again"),
        platforms=[parse_platform("linux/arm64/v8")],
    )
    assert again.target_digest == result.target_digest
    assert skopeo.inspect_raw(plain_registry2, "sub/app", "arm-again") == raw
    assert again.blobs_copied == 0 and again.manifests_pushed == 1  # children already there


async def test_platform_variant_selects_arm_v7(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient, multi: Index
) -> None:
    result = await Copier(client).copy(
        ref(plain_registry, "multi/app", "v1"),
        ref(plain_registry2, "sub/app", "armv7"),
        platforms=[parse_platform("linux/arm/v7")],
    )

    raw = images.get_manifest_raw(plain_registry2, "sub/app", "armv7")
    assert entry_digests(raw) == [multi.children[2].digest, multi.attestations[2].digest]
    assert result.platforms == ("linux/arm/v7",)
    assert result.target_digest == sha256(raw)


async def test_two_platforms_keep_source_order(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient, multi: Index
) -> None:
    result = await Copier(client).copy(
        ref(plain_registry, "multi/app", "v1"),
        ref(plain_registry2, "sub/app", "two"),
        platforms=[parse_platform("linux/arm/v7"), parse_platform("linux/amd64")],
    )

    raw = images.get_manifest_raw(plain_registry2, "sub/app", "two")
    amd64, _, arm = multi.children
    att_amd64, _, att_arm = multi.attestations
    assert entry_digests(raw) == [amd64.digest, arm.digest, att_amd64.digest, att_arm.digest]
    assert result.platforms == ("linux/amd64", "linux/arm/v7")


async def test_every_platform_requested_keeps_the_original_index(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient, multi: Index
) -> None:
    wanted = [parse_platform(p) for p in ("linux/amd64", "linux/arm64", "linux/arm")]
    result = await Copier(client).copy(
        ref(plain_registry, "multi/app", "v1"),
        ref(plain_registry2, "all/app", "v1"),
        platforms=wanted,
    )

    assert result.digest_preserved
    assert images.get_manifest_raw(plain_registry2, "all/app", "v1") == multi.manifest


async def test_platform_filter_on_a_single_manifest(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    image = images.push_oci_image(plain_registry, "one/app", "v1", seed=5, architecture="arm64")
    copier = Copier(client)
    src = ref(plain_registry, "one/app", "v1")

    match = await copier.copy(
        src, ref(plain_registry2, "one/app", "v1"), platforms=[parse_platform("linux/arm64")]
    )
    with capture_logs() as logs:
        miss = await copier.copy(
            src, ref(plain_registry2, "one/app", "miss"), platforms=[parse_platform("linux/amd64")]
        )

    assert match.digest_preserved and match.platforms == ("linux/arm64",)
    assert images.get_manifest_raw(plain_registry2, "one/app", "v1") == image.manifest
    assert miss.skipped == NO_PLATFORM_MATCH and miss.target_digest is None
    assert images.list_tags(plain_registry2, "one/app") == ["v1"]
    assert any(e["event"] == NO_PLATFORM_MATCH and e["log_level"] == "warning" for e in logs), logs


async def test_no_platform_match_on_an_index_pushes_nothing(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient, multi: Index
) -> None:
    with capture_logs() as logs:
        result = await Copier(client).copy(
            ref(plain_registry, "multi/app", "v1"),
            ref(plain_registry2, "none/app", "v1"),
            platforms=[parse_platform("linux/s390x")],
        )

    assert result.skipped == NO_PLATFORM_MATCH == "no image for the requested platforms"
    assert result.target_digest is None and result.blobs_copied == result.manifests_pushed == 0
    assert images.list_tags(plain_registry2, "none/app") == []
    writes = [e for e in plain_registry2.access_log() if e.method in ("PUT", "POST", "PATCH")]
    assert writes == []
    warnings = [e for e in logs if e["event"] == NO_PLATFORM_MATCH]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["platforms"] == ["linux/s390x"]
    assert warnings[0]["image"] == f"{plain_registry.host}/multi/app:v1"


# ------------------------------------------------------------------ up to date
@pytest.mark.parametrize("platforms", [None, ["linux/arm64"]], ids=["all", "subset"])
async def test_second_copy_is_up_to_date_and_writes_nothing(
    plain_registry: Registry,
    plain_registry2: Registry,
    client: RegistryClient,
    multi: Index,
    platforms: list[str] | None,
) -> None:
    wanted = [parse_platform(p) for p in platforms or []]
    src, dst = ref(plain_registry, "multi/app", "v1"), ref(plain_registry2, "same/app", "v1")
    first = await Copier(client).copy(src, dst, platforms=wanted)
    writes = blob_writes(plain_registry2)
    manifest_puts = plain_registry2.count_requests("PUT", r"/manifests/")
    assert writes > 0 and manifest_puts == first.manifests_pushed

    second = await Copier(client).copy(src, dst, platforms=wanted)

    assert second.up_to_date and second.target_digest == first.target_digest
    assert second.blobs_copied == second.blobs_mounted == second.manifests_pushed == 0
    assert second.bytes_moved == 0
    assert blob_writes(plain_registry2) == writes
    assert plain_registry2.count_requests("PUT", r"/manifests/") == manifest_puts


# ------------------------------------------------------ sharing blob transfers
async def test_session_mounts_into_a_second_repository(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    index = images.push_oci_index(plain_registry, "multi/app", "v1", seed=31)
    copier = Copier(client)  # one TransferSession for both copies
    src = ref(plain_registry, "multi/app", "v1")

    first = await copier.copy(src, ref(plain_registry2, "team-a/app", "v1"))
    uploads_before = plain_registry2.count_requests("PUT", r"/blobs/uploads/")
    second = await copier.copy(src, ref(plain_registry2, "team-b/app", "v1"))

    n = len(distinct_blobs(index.all_manifests))
    assert first.blobs_copied == n and first.blobs_mounted == 0
    assert second.blobs_mounted == n and second.blobs_copied == 0 and second.bytes_moved == 0
    assert len(mounts(plain_registry2, "team-b/app")) == n
    assert all(
        "from=team-a%2Fapp" in uri or "from=team-a/app" in uri
        for uri in mounts(plain_registry2, "team-b/app")
    )
    assert plain_registry2.count_requests("PUT", r"/blobs/uploads/") == uploads_before
    assert second.digest_preserved
    assert images.get_manifest_raw(plain_registry2, "team-b/app", "v1") == index.manifest
    assert copier.session.totals.copied == n and copier.session.totals.mounted == n


async def test_copy_within_one_registry_mounts(
    plain_registry: Registry, client: RegistryClient
) -> None:
    image = images.push_oci_image(plain_registry, "base/app", "v1", seed=41, layer_count=2)
    puts = plain_registry.count_requests("PUT", r"/blobs/uploads/")

    result = await Copier(client).copy(
        ref(plain_registry, "base/app", "v1"), ref(plain_registry, "other/app", "v1")
    )

    assert result.blobs_mounted == 3 and result.blobs_copied == 0 and result.bytes_moved == 0
    assert len(mounts(plain_registry, "other/app")) == 3
    assert plain_registry.count_requests("PUT", r"/blobs/uploads/") == puts
    assert plain_registry.count_requests("GET", r"/blobs/") == 0
    assert images.get_manifest_raw(plain_registry, "other/app", "v1") == image.manifest


@pytest.mark.parametrize(
    ("repo_one", "repo_two"),
    [("mirror/apps", "mirror/apps"), ("mirror/one", "mirror/two")],
    ids=["same-repo", "two-repos"],
)
async def test_concurrent_copies_upload_a_shared_layer_once(
    plain_registry: Registry,
    plain_registry2: Registry,
    client: RegistryClient,
    repo_one: str,
    repo_two: str,
) -> None:
    first, second, base = shared_base_images()
    images.push_image(plain_registry, "app/one", first, "v1")
    images.push_image(plain_registry, "app/two", second, "v1")
    copier = Copier(client)

    results = await asyncio.gather(
        copier.copy(ref(plain_registry, "app/one", "v1"), ref(plain_registry2, repo_one, "one")),
        copier.copy(ref(plain_registry, "app/two", "v1"), ref(plain_registry2, repo_two, "two")),
    )

    assert uploads_of(plain_registry2, base.digest) == 1
    assert plain_registry.count_requests("GET", rf"/blobs/{base.digest}$") == 1
    assert sum(r.blobs_copied for r in results) == len(distinct_blobs([first, second])) == 5
    # the second copy of the base layer: the same task's result, or a mount
    reused = "blobs_present" if repo_one == repo_two else "blobs_mounted"
    assert sum(getattr(r, reused) for r in results) == 1
    assert images.get_manifest_raw(plain_registry2, repo_one, "one") == first.manifest
    assert images.get_manifest_raw(plain_registry2, repo_two, "two") == second.manifest
    assert images.blob_exists(plain_registry2, repo_two, base.digest)


async def test_a_failed_transfer_does_not_hold_back_another_repository(
    plain_registry: Registry,
    plain_registry2: Registry,
    registry_factory: RegistryFactory,
) -> None:
    """The copy that leads a shared layer's transfer fails (corrupt source)
    while another copy waits to mount that layer: the waiting copy then
    uploads the layer from its own source."""
    bad_source, good_source, target = plain_registry, registry_factory("plain"), plain_registry2
    base = big_layer(16 << 20, seed=3)  # more than the socket buffers hold
    first = image_with_layers([base, make_layer(9102)], seed=1)
    second = image_with_layers([base, make_layer(9103)], seed=2)
    images.push_image(bad_source, "app/one", first, "v1")
    images.push_image(good_source, "app/two", second, "v1")
    images.corrupt_blob(bad_source, "app/one", base.digest)
    assert bad_source.proc is not None
    signal_source = bad_source.proc.send_signal
    streaming = asyncio.Event()

    class StopSourceMidStream(NullProgress):
        def blob_started(self, digest: str, size: int | None) -> None:
            if digest == base.digest and not streaming.is_set():
                signal_source(signal.SIGSTOP)
                streaming.set()

    def head_of_base_seen() -> None:
        path = f"/v2/m/two/blobs/{base.digest}"
        deadline = time.monotonic() + 30
        # access_log() waits on the registry's own log each time round
        while not any(e.method == "HEAD" and e.path == path for e in target.access_log()):
            if time.monotonic() > deadline or follower.done():
                raise AssertionError("the second copy never asked for the base layer")

    async with make_client(bad_source, good_source, target) as c:
        copier = Copier(c)
        copier.session.progress = StopSourceMidStream()
        try:
            doomed = asyncio.ensure_future(
                copier.copy(ref(bad_source, "app/one", "v1"), ref(target, "m/one", "v1"))
            )
            waiter = asyncio.ensure_future(streaming.wait())
            await asyncio.wait({doomed, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            assert streaming.is_set(), doomed
            follower = asyncio.ensure_future(
                copier.copy(ref(good_source, "app/two", "v1"), ref(target, "m/two", "v1"))
            )
            await asyncio.to_thread(head_of_base_seen)  # the follower is about to wait
        finally:
            signal_source(signal.SIGCONT)
        result = await follower
        with pytest.raises(DigestMismatchError):
            await doomed

    assert result.blobs_copied == 3 and result.blobs_mounted == 0
    assert uploads_of(target, base.digest) == 1
    assert images.get_manifest_raw(target, "m/two", "v1") == second.manifest
    assert not images.manifest_exists(target, "m/one", "v1")


# --------------------------------------------------------------------- schema1
async def test_schema1_is_converted_to_schema2(
    schema1_registry: Registry, plain_registry: Registry, tmp_path: Path
) -> None:
    legacy = images.push_schema1_image(schema1_registry, "legacy/app", seed=51, layer_count=2)

    async with make_client(schema1_registry, plain_registry) as c:
        with capture_logs() as logs:
            result = await Copier(c).copy(
                ref(schema1_registry, "legacy/app", legacy.tag),
                ref(plain_registry, "legacy/app", "converted"),
            )

    raw = images.get_manifest_raw(plain_registry, "legacy/app", "converted")
    doc = json.loads(raw)
    assert doc["mediaType"] == DOCKER_SCHEMA2 and doc["schemaVersion"] == 2
    assert result.target_digest == sha256(raw)
    assert not result.digest_preserved
    assert result.converted_from == DOCKER_SCHEMA1_SIGNED
    config = json.loads(images.get_blob(plain_registry, "legacy/app", doc["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == legacy.diff_ids
    assert [layer["digest"] for layer in doc["layers"]] == [
        layer.digest for layer in legacy.source.layers
    ]
    skopeo.copy_to_dir(plain_registry, "legacy/app", "converted", tmp_path / "dir", all=False)
    assert any("schema1" in e["event"] and e["log_level"] == "warning" for e in logs)


async def test_schema1_conversion_is_the_same_when_layers_are_mounted(
    schema1_registry: Registry, plain_registry: Registry
) -> None:
    legacy = images.push_schema1_image(schema1_registry, "legacy/app", seed=53, layer_count=2)
    src = ref(schema1_registry, "legacy/app", legacy.tag)

    async with make_client(schema1_registry, plain_registry) as c:
        copier = Copier(c)
        streamed = await copier.copy(src, ref(plain_registry, "legacy/one", "v1"))
        # layers are mounted, so their diff_ids come from reading the source
        mounted = await copier.copy(src, ref(plain_registry, "legacy/two", "v1"))

    assert streamed.blobs_copied == 3  # two layers and the new config
    assert mounted.blobs_mounted == 2 and mounted.blobs_copied == 1  # config: per repository
    assert mounted.target_digest == streamed.target_digest
    raw = images.get_manifest_raw(plain_registry, "legacy/two", "v1")
    assert sha256(raw) == mounted.target_digest
    config_digest = json.loads(raw)["config"]["digest"]
    config = json.loads(images.get_blob(plain_registry, "legacy/two", config_digest))
    assert config["rootfs"]["diff_ids"] == legacy.diff_ids


async def test_schema1_source_digest_is_the_registry_digest(
    schema1_registry: Registry, plain_registry: Registry
) -> None:
    legacy = images.push_schema1_image(schema1_registry, "legacy/app", seed=52)

    async with make_client(schema1_registry, plain_registry) as c:
        by_tag = await Copier(c).copy(
            ref(schema1_registry, "legacy/app", legacy.tag),
            ref(plain_registry, "legacy/app", "by-tag"),
        )
        assert by_tag.source_digest == legacy.digest
        by_digest = await Copier(c).copy(
            ref(schema1_registry, "legacy/app", legacy.digest),
            ref(plain_registry, "legacy/app", "by-digest"),
        )
    assert by_digest.target_digest == by_tag.target_digest


# ------------------------------------------------------------------- failures
async def test_corrupted_source_blob_is_never_committed(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    image = images.push_oci_image(plain_registry, "bad/app", "v1", seed=61, file_size=256 * 1024)
    bad = image.layers[0].digest
    images.corrupt_blob(plain_registry, "bad/app", bad)

    with pytest.raises(DigestMismatchError) as info:
        await Copier(client).copy(
            ref(plain_registry, "bad/app", "v1"), ref(plain_registry2, "bad/app", "v1")
        )

    assert info.value.expected == bad and info.value.actual != bad
    assert bad in str(info.value)
    assert not images.blob_exists(plain_registry2, "bad/app", bad)
    assert not plain_registry2.blob_path(bad).exists()
    assert plain_registry2.count_requests("DELETE", r"/blobs/uploads/") >= 1  # upload cancelled
    assert not images.manifest_exists(plain_registry2, "bad/app", "v1")
    assert not images.manifest_exists(plain_registry2, "bad/app", image.digest)
    assert images.list_tags(plain_registry2, "bad/app") == []


async def test_missing_source_is_not_found_with_a_remedy(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    src = ref(plain_registry, "ghost/app", "v9")

    with pytest.raises(NotFoundError) as info:
        await Copier(client).copy(src, ref(plain_registry2, "ghost/app", "v9"))

    err = info.value
    assert err.context.image == str(src)
    assert err.context.registry == plain_registry.host
    assert err.status == 404
    assert err.remedy is not None
    assert f"hangard inspect --raw docker://{src}" in err.remedy
    assert str(src) in str(err)
    assert blob_writes(plain_registry2) == 0


async def test_missing_child_manifest_names_the_image(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    index = images.build_index(71)
    images.push_index(plain_registry, "torn/app", index, "v1")
    images.delete_manifest(plain_registry, "torn/app", index.children[1].digest)
    src = ref(plain_registry, "torn/app", "v1")

    with pytest.raises(NotFoundError) as info:
        await Copier(client).copy(src, ref(plain_registry2, "torn/app", "v1"))

    assert info.value.context.image is not None
    assert info.value.context.image.startswith(f"{plain_registry.host}/torn/app")
    assert not images.manifest_exists(plain_registry2, "torn/app", "v1")


@pytest.mark.parametrize("side", ["destination", "source"])
async def test_wrong_credentials_give_an_auth_error_for_that_side(
    plain_registry: Registry, basic_registry: Registry, side: str
) -> None:
    wrong = {basic_registry.host: Credentials(username="alice", password="not-her-secret")}
    if side == "destination":
        images.push_oci_image(plain_registry, "auth/app", "v1", seed=81)
        src, dst = ref(plain_registry, "auth/app", "v1"), ref(basic_registry, "auth/app", "v1")
    else:
        images.push_oci_image(basic_registry, "auth/app", "v1", seed=81)
        src, dst = ref(basic_registry, "auth/app", "v1"), ref(plain_registry, "auth/app", "v1")

    async with make_client(plain_registry, basic_registry, credentials=wrong) as c:
        with pytest.raises(AuthError) as info:
            await Copier(c).copy(src, dst)

    err = info.value
    assert err.context.image is not None and "auth/app" in err.context.image
    assert err.context.registry == basic_registry.host
    assert err.status == 401
    assert err.remedy is not None
    if side == "destination":
        assert err.remedy == PUSH_AUTH_REMEDY
        assert not images.manifest_exists(basic_registry, "auth/app", "v1")
    else:
        assert err.remedy is not None and "credentials" in err.remedy  # see tests/test_hints.py
        assert blob_writes(plain_registry) == 0
    assert "not-her-secret" not in str(err)
