"""Hangar zip archives as a store: registry → ``hangard copy`` →
``hangar-archive:`` → ``hangard copy`` → registry keeps every digest
(checked with skopeo); skopeo reads our archive as Hangar does (a shared
blob directory); an archive built by hand from Hangar's documented layout
loads; several images share blobs; a damaged blob is refused with nothing
tagged at the target; OCI layouts ↔ archives."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hangard.copy import Copier
from hangard.core.archive import share_name
from hangard.core.transports import ArchiveReference, LayoutReference, parse_store_reference
from hangard.errors import ArchiveError, DigestMismatchError, InputError
from hangard.registry.client import RegistryClient
from hangard.stores.archive.opened import Archive
from tests.harness import images, skopeo
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.helpers_copy import ref, shared_base_images

pytestmark = pytest.mark.usefixtures("tmp_authfile")

Pusher = Callable[[Registry, str, str], images.Image | images.Index]
KINDS: dict[str, Pusher] = {
    "oci-index": lambda r, repo, tag: images.push_oci_index(r, repo, tag, seed=11),
    "docker-list": lambda r, repo, tag: images.push_docker_manifest_list(r, repo, tag, seed=12),
    "oci-image": lambda r, repo, tag: images.push_oci_image(r, repo, tag, seed=13),
    "docker-image": lambda r, repo, tag: images.push_schema2_image(r, repo, tag, seed=14),
    "attestations": lambda r, repo, tag: images.push_oci_index(
        r, repo, tag, seed=15, attestations=True
    ),
}


def manifests_of(pushed: images.Image | images.Index) -> list[images.Image]:
    return pushed.all_manifests if isinstance(pushed, images.Index) else [pushed]


def top_index(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as z:
        doc: dict[str, Any] = json.loads(z.read("index.json"))
        return doc


def check_layout(path: Path, pushed: images.Image | images.Index) -> None:
    """Hangar's layout: stored entries, no directories, one index.json,
    share blobs, one minimal OCI layout per image manifest."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        assert z.testzip() is None
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert not any(n.endswith("/") for n in names)
        assert names.count("index.json") == 1
        assert z.read(f"share/sha256/{pushed.digest[7:]}") == pushed.manifest
        for image in manifests_of(pushed):
            hexpart = image.digest[7:]
            layout = json.loads(z.read(f"{hexpart}/index.json"))
            assert layout["manifests"] == [
                {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest)}
            ]
            assert json.loads(z.read(f"{hexpart}/oci-layout")) == {"imageLayoutVersion": "1.0.0"}
            for blob in image.blobs:
                assert z.read(f"share/sha256/{blob.digest[7:]}") == blob.data


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_registry_archive_registry_keeps_digests(
    hangard: Hangard,
    plain_registry: Registry,
    plain_registry2: Registry,
    tmp_path: Path,
    kind: str,
) -> None:
    pushed = KINDS[kind](plain_registry, "src/app", "v1")
    archive = tmp_path / "images.zip"
    src = f"docker://{plain_registry.host}/src/app:v1"
    saved = hangard("copy", "--src-plain-http", "-o", "json", src, f"hangar-archive:{archive}")
    assert saved.code == 0, saved.err
    assert json.loads(saved.out)["target_digest"] == pushed.digest
    assert not archive.with_name("images.zip.partial").exists()
    check_layout(archive, pushed)
    (entry,) = top_index(archive)["list"]
    assert (entry["source"], entry["tag"]) == (f"{plain_registry.host}/src/app", "v1")
    if isinstance(pushed, images.Index):
        assert entry["hangardIndex"]["digest"] == pushed.digest
    else:
        assert "hangardIndex" not in entry

    back = f"docker://{plain_registry2.host}/back/app:v2"
    loaded = hangard(
        "copy", "--dest-plain-http", f"hangar-archive:{archive}:{entry['source']}:v1", back
    )
    assert loaded.code == 0, loaded.err
    assert skopeo.inspect_raw(plain_registry2, "back/app", "v2") == pushed.manifest
    for image in manifests_of(pushed):
        assert skopeo.inspect_raw(plain_registry2, "back/app", image.digest) == image.manifest
    shown = hangard("inspect", "--raw", f"hangar-archive:{archive}")
    assert shown.code == 0, shown.err
    assert shown.stdout == pushed.manifest


def test_schema1_is_converted_into_the_archive_and_says_so(
    hangard: Hangard, schema1_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    old = images.push_schema1_image(schema1_registry, "old/app", seed=21)
    archive = tmp_path / "s1.zip"
    src = f"docker://{schema1_registry.host}/old/app:{old.tag}"
    saved = hangard("copy", "--src-plain-http", src, f"hangar-archive:{archive}")
    assert saved.code == 0, saved.err
    assert "converted from application/vnd.docker.distribution.manifest.v1+prettyjws" in saved.out
    (entry,) = top_index(archive)["list"]
    (spec,) = entry["images"]
    assert spec["mediaType"] == images.DOCKER_SCHEMA2 and spec["digest"] != old.digest
    loaded = hangard(
        "copy",
        "--dest-plain-http",
        f"hangar-archive:{archive}",
        f"docker://{plain_registry2.host}/new/app:s2",
    )
    assert loaded.code == 0, loaded.err
    raw = skopeo.inspect_raw(plain_registry2, "new/app", "s2")
    assert images.sha256_digest(raw) == spec["digest"]


async def test_skopeo_reads_our_archive_with_a_shared_blob_dir(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    index = images.push_docker_manifest_list(plain_registry, "multi/app", "v1", seed=22)
    archive = tmp_path / "a.zip"
    copier = Copier(client)
    await copier.copy(ref(plain_registry, "multi/app", "v1"), ArchiveReference(str(archive)))
    await copier.commit()
    await copier.close()
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as z:
        z.extractall(unpacked)
    for n, child in enumerate(index.children):
        skopeo.run_skopeo(
            [
                "copy",
                "--src-shared-blob-dir",
                str(unpacked / "share"),
                "--dest-tls-verify=false",
                f"oci:{unpacked / child.digest[7:]}",
                f"docker://{plain_registry2.host}/skopeo/app:p{n}",
            ]
        )
        assert skopeo.inspect_raw(plain_registry2, "skopeo/app", f"p{n}") == child.manifest


def hangar_made(path: Path, entries: list[tuple[str, str, images.Image | images.Index]]) -> None:
    """An archive as Hangar writes one, from the documented layout: share
    blobs (no index blob), a layout per platform manifest, and an index
    without hangard's extension keys."""
    written: set[str] = set()
    items = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:

        def put(name: str, data: bytes) -> None:
            if name not in written:
                written.add(name)
                z.writestr(name, data)

        for source, tag, pushed in entries:
            specs = []
            for image in manifests_of(pushed):
                for blob in image.blobs:
                    put(f"share/sha256/{blob.digest[7:]}", blob.data)
                put(f"share/sha256/{image.digest[7:]}", image.manifest)
                desc = {
                    "mediaType": image.media_type,
                    "digest": image.digest,
                    "size": len(image.manifest),
                }
                put(f"{image.digest[7:]}/index.json", json.dumps({"manifests": [desc]}).encode())
                put(f"{image.digest[7:]}/oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
                platform = image.platform or {"architecture": "unknown", "os": "unknown"}
                specs.append(
                    {
                        "arch": platform["architecture"],
                        "os": platform["os"],
                        "mediaType": image.media_type,
                        "layers": [layer.digest for layer in image.layers],
                        "config": image.config.digest,
                        "digest": image.digest,
                    }
                )
            items.append({"source": source, "tag": tag, "images": specs})
        doc = {"list": items, "version": "v1.2.0", "time": "2024-01-02T03:04:05.123456+08:00"}
        z.writestr("index.json", json.dumps(doc))


def test_a_hangar_made_archive_loads(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    index = images.build_index(23)
    single = images.build_image(24)
    archive = tmp_path / "hangar.zip"
    hangar_made(
        archive, [("docker.io/library/multi", "1.0", index), ("docker.io/team/one", "2.0", single)]
    )
    dst = f"docker://{plain_registry.host}/loaded/multi:1.0"
    multi = hangard("copy", "--dest-plain-http", f"hangar-archive:{archive}:multi:1.0", dst)
    assert multi.code == 0, multi.err
    assert "index rebuilt as Hangar's load does" in multi.err
    raw = skopeo.inspect_raw(plain_registry, "loaded/multi", "1.0")
    rebuilt = json.loads(raw)
    assert images.sha256_digest(raw) != index.digest
    assert rebuilt["mediaType"] == images.OCI_INDEX
    assert [m["digest"] for m in rebuilt["manifests"]] == [c.digest for c in index.children]
    for child in index.children:
        assert skopeo.inspect_raw(plain_registry, "loaded/multi", child.digest) == child.manifest

    one = hangard(
        "copy",
        "--dest-plain-http",
        f"hangar-archive:{archive}:team/one:2.0",
        f"docker://{plain_registry.host}/loaded/one",
    )
    assert one.code == 0, one.err
    assert skopeo.inspect_raw(plain_registry, "loaded/one", "2.0") == single.manifest
    vague = hangard("inspect", f"hangar-archive:{archive}")
    assert vague.code == 2 and "holds 2 images" in vague.err and "Traceback" not in vague.err


async def test_images_in_one_run_share_blobs(
    plain_registry: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    first, second, base = shared_base_images()
    images.push_image(plain_registry, "team/a", first, "1")
    images.push_image(plain_registry, "team/b", second, "1")
    archive = tmp_path / "two.zip"
    copier = Copier(client)
    for repo in ("team/a", "team/b"):
        await copier.copy(ref(plain_registry, repo, "1"), ArchiveReference(str(archive)))
    assert not archive.exists()  # nothing final before the commit
    await copier.commit()
    await copier.close()
    data = archive.read_bytes()
    # a stored entry's name is in its local header and the central directory
    assert data.count(f"share/sha256/{base.digest[7:]}".encode()) == 2
    entries = top_index(archive)["list"]
    assert [e["source"] for e in entries] == [f"{plain_registry.host}/team/{x}" for x in "ab"]
    assert all(base.digest in e["images"][0]["layers"] for e in entries)


def flip_byte(archive: Path, name: str) -> None:
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(name)
    with archive.open("r+b") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(fh.read(2), "little") for _ in range(2))
        at = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 0xFF]))


async def test_a_damaged_blob_is_refused_and_nothing_is_tagged(
    hangard: Hangard, plain_registry: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    image = images.push_oci_image(plain_registry, "src/app", "v1", seed=25)
    archive = tmp_path / "bad.zip"
    copier = Copier(client)
    await copier.copy(ref(plain_registry, "src/app", "v1"), ArchiveReference(str(archive)))
    await copier.commit()
    await copier.close()
    layer = image.layers[-1]
    flip_byte(archive, f"share/sha256/{layer.digest[7:]}")

    proc = hangard(
        "copy",
        "--dest-plain-http",
        f"hangar-archive:{archive}",
        f"docker://{plain_registry.host}/dst/app:v1",
    )
    assert proc.code == 2  # the archive is bad input
    assert layer.digest in proc.err and "src/app" in proc.err and "damaged" in proc.err
    assert "Traceback" not in proc.err
    with images.RegistryClient(plain_registry) as c:
        assert c.get_manifest("dst/app", "v1").status_code == 404

    again = Copier(client)
    with pytest.raises(ArchiveError, match=layer.digest):
        await again.copy(
            ArchiveReference(str(archive)), LayoutReference(str(tmp_path / "layout"), "v1")
        )
    await again.close()


@pytest.mark.parametrize("file_size", [64 << 10, 3 << 20], ids=["read-ahead", "streamed"])
async def test_a_corrupted_source_blob_never_enters_the_archive(
    plain_registry: Registry, client: RegistryClient, tmp_path: Path, file_size: int
) -> None:
    """The copier leaves hashing to the archive (each blob hashed once), for
    a small blob read ahead whole as for a big one streamed: the archive's
    own check must still refuse a blob that is not what it says."""
    image = images.push_oci_image(plain_registry, "bad/app", "v1", seed=26, file_size=file_size)
    bad = image.layers[0].digest
    images.corrupt_blob(plain_registry, "bad/app", bad)
    archive = tmp_path / "bad.zip"
    copier = Copier(client)
    with pytest.raises(DigestMismatchError) as info:
        await copier.copy(ref(plain_registry, "bad/app", "v1"), ArchiveReference(str(archive)))
    assert info.value.expected == bad and info.value.actual != bad
    assert "bad/app" in str(info.value)
    await copier.close()
    resumed = Archive(archive)  # what a rerun would keep of the partial
    assert await resumed.entry(share_name(bad)) is None
    await resumed.close()


async def test_oci_layout_to_archive_and_back(
    plain_registry: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    index = images.push_oci_index(plain_registry, "multi/app", "v1", seed=26, attestations=True)
    layout, archive = tmp_path / "layout", tmp_path / "from-oci.zip"
    copier = Copier(client)
    await copier.copy(ref(plain_registry, "multi/app", "v1"), LayoutReference(str(layout), "v1"))
    with pytest.raises(InputError, match="needs an image name"):
        await copier.copy(LayoutReference(str(layout), "v1"), ArchiveReference(str(archive)))
    to_archive = parse_store_reference(f"hangar-archive:{archive}:example.com/multi/app")
    saved = await copier.copy(LayoutReference(str(layout), "v1"), to_archive)
    assert saved.target_digest == index.digest
    await copier.commit()
    await copier.close()
    (entry,) = top_index(archive)["list"]
    assert (entry["source"], entry["tag"]) == ("example.com/multi/app", "v1")

    back = Copier(client)
    loaded = await back.copy(
        parse_store_reference(f"hangar-archive:{archive}:example.com/multi/app:v1"),
        LayoutReference(str(tmp_path / "again"), "w"),
    )
    await back.close()
    assert loaded.target_digest == index.digest
    assert skopeo.run_skopeo(["inspect", "--raw", f"oci:{tmp_path / 'again'}:w"]).stdout == (
        index.manifest
    )

    other = tmp_path / "other.zip"
    between = Copier(client)
    moved = await between.copy(ArchiveReference(str(archive)), ArchiveReference(str(other)))
    await between.commit()
    await between.close()
    assert moved.target_digest == index.digest
    assert top_index(other)["list"] == top_index(archive)["list"]
    check_layout(other, index)


async def test_an_uncommitted_run_leaves_a_partial_that_the_next_run_completes(
    plain_registry: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    index = images.push_oci_index(plain_registry, "multi/app", "v1", seed=27)
    archive = tmp_path / "resume.zip"
    first = Copier(client)
    await first.copy(ref(plain_registry, "multi/app", "v1"), ArchiveReference(str(archive)))
    await first.close()  # no commit: as if the run died
    assert not archive.exists() and archive.with_name("resume.zip.partial").exists()

    second = Copier(client)
    result = await second.copy(
        ref(plain_registry, "multi/app", "v1"), ArchiveReference(str(archive))
    )
    await second.commit()
    await second.close()
    # the children and their blobs were complete in the partial: only the index is new
    assert (result.blobs_copied, result.manifests_pushed) == (0, 1)
    check_layout(archive, index)


async def test_appending_keeps_the_images_already_there(
    plain_registry: Registry, client: RegistryClient, tmp_path: Path
) -> None:
    one = images.push_oci_image(plain_registry, "team/one", "1", seed=28)
    two = images.push_schema2_image(plain_registry, "team/two", "2", seed=29)
    archive = tmp_path / "grow.zip"
    for repo, tag in (("team/one", "1"), ("team/two", "2")):
        copier = Copier(client)
        await copier.copy(ref(plain_registry, repo, tag), ArchiveReference(str(archive)))
        await copier.commit()
        await copier.close()
    entries = top_index(archive)["list"]
    assert [(e["tag"], e["images"][0]["digest"]) for e in entries] == [
        ("1", one.digest),
        ("2", two.digest),
    ]
    check_layout(archive, one)
    check_layout(archive, two)


def test_a_missing_or_foreign_archive_is_one_line(hangard: Hangard, tmp_path: Path) -> None:
    missing = hangard("inspect", f"hangar-archive:{tmp_path / 'nope.zip'}")
    assert missing.code == 1 and "there is no such archive" in missing.err
    not_hangar = tmp_path / "other.zip"
    with zipfile.ZipFile(not_hangar, "w") as z:
        z.writestr("readme.txt", "hello")
    foreign = hangard("inspect", f"hangar-archive:{not_hangar}:h.io/a:1")
    assert foreign.code == 2 and "no index.json: not a Hangar archive" in foreign.err
    for run in (missing, foreign):
        assert "Traceback" not in run.err and len(run.err.strip().splitlines()) <= 2
