"""OCI image layout directories as a store: registry → ``oci:DIR:TAG`` →
registry with the digest kept, cross-checked with skopeo (the independent
reader and writer of OCI layouts), the platform filter into a layout and
``--platform`` out of one, a schema1 image converted on its way in, the tag
list, atomic and durable writes, and one-line errors for a broken layout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hangard.copy import Copier
from hangard.core.platform import parse_platform
from hangard.core.transports import LayoutReference, parse_store_reference
from hangard.errors import DigestMismatchError
from hangard.registry.client import RegistryClient
from hangard.stores import OciLayoutStore
from tests.harness import images, skopeo
from tests.harness.images import DOCKER_SCHEMA2
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import ref, sha256
from tests.helpers_strace import fsynced_after_rename, syscalls

pytestmark = pytest.mark.usefixtures("tmp_authfile")


def layout_blobs(root: Path) -> list[Path]:
    return sorted((root / "blobs" / "sha256").iterdir())


async def test_index_through_an_oci_layout_keeps_its_digest(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    index = images.push_oci_index(plain_registry, "multi/app", "v1", seed=3)
    layout = tmp_path / "layout"
    copier = Copier(client)

    saved = await copier.copy(
        ref(plain_registry, "multi/app", "v1"), parse_store_reference(f"oci:{layout}:v1")
    )
    assert saved.digest_preserved and saved.target_digest == index.digest
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    entries = json.loads((layout / "index.json").read_text())["manifests"]
    assert [e["annotations"]["org.opencontainers.image.ref.name"] for e in entries] == ["v1"]
    assert (layout / "blobs" / "sha256" / index.digest[7:]).read_bytes() == index.manifest
    raw = skopeo.run_skopeo(["inspect", "--raw", f"oci:{layout}:v1"]).stdout
    assert raw == index.manifest

    loaded = await Copier(client).copy(
        LayoutReference(str(layout), "v1"), ref(plain_registry2, "back/app", "v2")
    )
    assert loaded.target_digest == index.digest
    assert skopeo.inspect_raw(plain_registry2, "back/app", "v2") == index.manifest
    for child in index.children:
        assert skopeo.inspect_raw(plain_registry2, "back/app", child.digest) == child.manifest

    again = await Copier(client).copy(
        LayoutReference(str(layout), "v1"), LayoutReference(str(tmp_path / "copy"), "w")
    )
    assert again.target_digest == index.digest
    assert layout_blobs(tmp_path / "copy") == [
        tmp_path / "copy" / p.relative_to(layout) for p in layout_blobs(layout)
    ]


async def test_skopeo_layout_reads_and_skopeo_reads_ours(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    index = images.push_oci_index(plain_registry, "multi/app", "v1", seed=4)
    theirs = tmp_path / "theirs"
    src = skopeo.image_ref(plain_registry, "multi/app", "v1")
    skopeo.run_skopeo(["copy", "--all", "--src-tls-verify=false", src, f"oci:{theirs}:t"])

    result = await Copier(client).copy(
        parse_store_reference(f"oci:{theirs}:t"), ref(plain_registry2, "from/skopeo", "t")
    )
    assert result.target_digest == index.digest
    assert skopeo.inspect_raw(plain_registry2, "from/skopeo", "t") == index.manifest

    ours = tmp_path / "ours"
    await Copier(client).copy(
        ref(plain_registry, "multi/app", "v1"), LayoutReference(str(ours), "o")
    )
    dest = skopeo.image_ref(plain_registry2, "from/ours", "o")
    skopeo.run_skopeo(
        ["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", f"oci:{ours}:o", dest]
    )
    assert skopeo.inspect_raw(plain_registry2, "from/ours", "o") == index.manifest


async def test_platform_filter_into_a_layout(
    plain_registry: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    index = images.push_oci_index(plain_registry, "multi/app", "v1", seed=5)
    wanted = index.children[0]
    assert wanted.platform is not None
    platform = parse_platform(f"{wanted.platform['os']}/{wanted.platform['architecture']}")
    layout = tmp_path / "one"

    result = await Copier(client).copy(
        ref(plain_registry, "multi/app", "v1"),
        LayoutReference(str(layout), "v1"),
        platforms=[platform],
    )
    assert result.target_digest != index.digest
    stored = await OciLayoutStore(layout).get_manifest("v1")
    assert [c.digest for c in stored.children] == [wanted.digest]
    names = {p.name for p in layout_blobs(layout)}
    assert {b.digest[7:] for b in wanted.blobs} <= names
    other = index.children[1]
    assert not {b.digest[7:] for b in other.layers} & names


async def _trickle(data: bytes, stop: asyncio.Event, half: asyncio.Event) -> AsyncIterator[bytes]:
    yield data[: len(data) // 2]
    half.set()  # the writer has taken the first half and asks for more
    await stop.wait()
    yield data[len(data) // 2 :]


async def test_an_interrupted_or_bad_write_leaves_no_blob(tmp_path: Path) -> None:
    store = OciLayoutStore(tmp_path / "layout")
    data = b"x" * 4096
    digest = sha256(data)
    half = asyncio.Event()
    body = _trickle(data, asyncio.Event(), half)
    task = asyncio.ensure_future(store.put_blob(digest, len(data), body))
    await asyncio.wait_for(half.wait(), 10)
    assert [p.name.endswith(".partial") for p in layout_blobs(tmp_path / "layout")] == [True]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert layout_blobs(tmp_path / "layout") == []
    with pytest.raises(DigestMismatchError):
        await store.put_blob(digest, None, b"not it")
    assert layout_blobs(tmp_path / "layout") == []
    await store.put_blob(digest, len(data), data)
    assert [p.name for p in layout_blobs(tmp_path / "layout")] == [digest[7:]]


def test_a_blob_write_fsyncs_its_directory_after_the_rename(tmp_path: Path) -> None:
    layout, data = tmp_path / "layout", b"durable"
    digest = sha256(data)
    code = (
        "import asyncio\n"
        "from pathlib import Path\n"
        "from hangard.stores import OciLayoutStore\n"
        f"store = OciLayoutStore(Path({str(layout)!r}))\n"
        f"asyncio.run(store.put_blob({digest!r}, {len(data)}, {data!r}))\n"
    )
    calls = syscalls(code, tmp_path / "strace.log")
    blob = layout / "blobs" / "sha256" / digest[7:]
    assert blob.read_bytes() == data
    assert fsynced_after_rename(calls, blob), calls
    assert fsynced_after_rename(calls, layout / "index.json"), calls


def test_cli_copy_and_inspect_raw_oci(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    index = images.push_oci_index(plain_registry, "multi/app", "v1", seed=6)
    layout = tmp_path / "cli"
    src = f"docker://{plain_registry.host}/multi/app:v1"
    copied = hangard("copy", "--src-plain-http", src, f"oci:{layout}:v1")
    assert copied.code == 0, copied.stderr
    shown = hangard("inspect", "--raw", f"oci:{layout}:v1")
    assert shown.code == 0, shown.stderr
    assert shown.stdout == index.manifest


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        (lambda d: (d / "x").write_text("not a layout"), "no oci-layout file"),
        (
            lambda d: (
                (d / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}'),
                (d / "index.json").write_text("{nope"),
            ),
            "index.json is not valid JSON",
        ),
    ],
    ids=["no-oci-layout", "bad-index-json"],
)
def test_a_bad_layout_is_one_line(
    hangard: Hangard, tmp_path: Path, setup: object, why: str
) -> None:
    layout = tmp_path / "bad"
    layout.mkdir()
    setup(layout)  # type: ignore[operator]
    proc = hangard("inspect", f"oci:{layout}:v1")
    assert proc.code == 2
    assert why in proc.err
    assert "Traceback" not in proc.err
    assert len(proc.err.strip().splitlines()) <= 2


def test_cli_copy_of_a_schema1_image_into_a_layout_converts_it(
    hangard: Hangard, schema1_registry: Registry, tmp_path: Path
) -> None:
    legacy = images.push_schema1_image(schema1_registry, "legacy/app", seed=71, layer_count=2)
    layout = tmp_path / "legacy"
    src = f"docker://{schema1_registry.host}/legacy/app:{legacy.tag}"

    copied = hangard("copy", "--src-plain-http", src, f"oci:{layout}:v1")
    assert copied.code == 0, copied.err
    assert "schema1" in copied.err  # the conversion is said, as a warning

    shown = hangard("inspect", "--raw", f"oci:{layout}:v1")
    assert shown.code == 0, shown.err
    doc = json.loads(shown.stdout)
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == DOCKER_SCHEMA2
    assert [layer["digest"] for layer in doc["layers"]] == [
        layer.digest for layer in legacy.source.layers
    ]
    config = json.loads((layout / "blobs" / "sha256" / doc["config"]["digest"][7:]).read_bytes())
    assert config["rootfs"]["diff_ids"] == legacy.diff_ids
    entry = json.loads((layout / "index.json").read_text())["manifests"][0]
    assert entry["digest"] == sha256(shown.stdout)
    # and back out of the layout, byte for byte (skopeo would not see it: it
    # skips index.json entries of Docker media types)
    back = f"docker://{schema1_registry.host}/back/app:v1"
    assert hangard("copy", "--dest-plain-http", f"oci:{layout}:v1", back).code == 0
    assert skopeo.inspect_raw(schema1_registry, "back/app", "v1") == shown.stdout


async def test_list_tags_of_a_layout_is_every_tag_of_index_json(
    plain_registry: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    images.push_oci_image(plain_registry, "app/tags", "v1", seed=72)
    layout = tmp_path / "tags"
    theirs = tmp_path / "theirs"
    for tag in ("v2", "latest", "v10"):
        await Copier(client).copy(
            ref(plain_registry, "app/tags", "v1"), LayoutReference(str(layout), tag)
        )
    assert await OciLayoutStore(layout).list_tags() == ["latest", "v10", "v2"]
    src = skopeo.image_ref(plain_registry, "app/tags", "v1")
    for tag in ("b", "a"):
        skopeo.run_skopeo(["copy", "--src-tls-verify=false", src, f"oci:{theirs}:{tag}"])
    assert await OciLayoutStore(theirs).list_tags() == ["a", "b"]


def test_cli_platform_on_an_oci_source(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    index = images.push_oci_index(plain_registry, "multi/app", "v1", seed=73)
    layout = tmp_path / "multi"
    src = f"docker://{plain_registry.host}/multi/app:v1"
    assert hangard("copy", "--src-plain-http", src, f"oci:{layout}:v1").code == 0
    wanted = index.children[1]
    assert wanted.platform is not None
    platform = f"{wanted.platform['os']}/{wanted.platform['architecture']}"

    shown = hangard("inspect", "--raw", "--platform", platform, f"oci:{layout}:v1")
    assert shown.code == 0, shown.err
    assert shown.stdout == wanted.manifest

    dest = f"docker://{plain_registry2.host}/one/app:v1"
    copied = hangard("copy", "--dest-plain-http", "--platform", platform, f"oci:{layout}:v1", dest)
    assert copied.code == 0, copied.err
    pushed = json.loads(skopeo.inspect_raw(plain_registry2, "one/app", "v1"))
    assert [c["digest"] for c in pushed["manifests"]] == [wanted.digest]
    assert skopeo.inspect_raw(plain_registry2, "one/app", wanted.digest) == wanted.manifest


async def test_concurrent_copies_into_one_layout_keep_every_tag(
    plain_registry: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    """Each copy opens its own store on the directory; they share one lock,
    so no copy's ``index.json`` update (or first layout write) is lost."""
    tags = [f"t{n}" for n in range(6)]
    for n, tag in enumerate(tags):
        images.push_image(plain_registry, f"many/app{n}", images.build_image(seed=40 + n), tag)
    layout = tmp_path / "layout"
    copier = Copier(client)
    await asyncio.gather(
        *(
            copier.copy(ref(plain_registry, f"many/app{n}", tag), LayoutReference(str(layout), tag))
            for n, tag in enumerate(tags)
        )
    )
    assert await OciLayoutStore(layout).list_tags() == tags
