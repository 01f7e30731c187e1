"""``hangard save`` / ``load`` / ``archive ls|verify|sync`` end to end, in
subprocesses against real registries: round trips keep every digest
(checked with skopeo), a Hangar list and a desired-state file as sources,
--append, conflicts without --overwrite, a damaged blob refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from hangard.core.archive import share_name
from tests.harness import images, skopeo
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

pytestmark = pytest.mark.usefixtures("tmp_authfile")


def name(registry: Registry, repo: str, tag: str) -> str:
    return f"{registry.host}/{repo}:{tag}"


def test_round_trip_keeps_every_digest(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "multi/app", "v1", seed=11, attestations=True)
    mlist = images.push_docker_manifest_list(src, "multi/list", "v2", seed=12)
    oci = images.push_oci_image(src, "single/oci", "v3", seed=13)
    docker = images.push_schema2_image(src, "single/docker", "v4", seed=14)
    archive = tmp_path / "out.zip"
    refs = [
        name(src, "multi/app", "v1"),
        name(src, "multi/list", "v2"),
        name(src, "single/oci", "v3"),
        name(src, "single/docker", "v4"),
    ]

    saved = hangard("save", *refs, "-o", str(archive), "--plain-http", "--no-progress")
    assert saved.code == 0, saved.err
    assert "save: 4 images, 0 failed" in saved.out
    assert not archive.with_name("out.zip.partial").exists()
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())

    listed = hangard("archive", "ls", str(archive), "-o", "json")
    assert listed.code == 0, listed.err
    rows = {r["source"] + ":" + r["tag"]: r for r in json.loads(listed.out)["images"]}
    assert rows[name(src, "multi/app", "v1")]["digest"] == index.digest
    assert rows[name(src, "single/docker", "v4")]["digest"] == docker.digest
    verified = hangard("archive", "verify", str(archive))
    assert verified.code == 0 and "sound" in verified.out, verified.err

    loaded = hangard("load", str(archive), "--to", f"{dst.host}/back", "--plain-http")
    assert loaded.code == 0, loaded.err
    pushed: list[tuple[str, str, images.Image | images.Index]] = [
        ("multi/app", "v1", index),
        ("multi/list", "v2", mlist),
        ("single/oci", "v3", oci),
        ("single/docker", "v4", docker),
    ]
    for repo, tag, image in pushed:
        assert skopeo.inspect_raw(dst, f"back/{repo}", tag) == image.manifest
    for child in index.all_manifests:  # attestations included
        assert skopeo.inspect_raw(dst, "back/multi/app", child.digest) == child.manifest

    again = hangard("load", str(archive), "--to", f"{dst.host}/back", "--plain-http")
    assert again.code == 0 and "4 in-sync" in again.out, again.err


def test_load_reports_a_conflict_and_overwrite_replaces_it(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "app", "1", seed=21)
    other = images.push_oci_image(dst, "m/app", "1", seed=22)
    archive = tmp_path / "a.zip"
    assert hangard("save", name(src, "app", "1"), "-o", str(archive), "--plain-http").code == 0

    refused = hangard("load", str(archive), "--to", f"{dst.host}/m", "--plain-http")
    assert refused.code == 1
    assert f"CONFLICT {dst.host}/m/app:1: has {other.digest}" in refused.err
    assert skopeo.inspect_raw(dst, "m/app", "1") == other.manifest

    replaced = hangard("load", str(archive), "--to", f"{dst.host}/m", "--plain-http", "--overwrite")
    assert replaced.code == 0, replaced.err
    assert skopeo.inspect_raw(dst, "m/app", "1") == image.manifest


def test_save_from_a_list_then_append_adds_without_rewriting(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    src = plain_registry
    first = images.push_oci_image(src, "a", "1", seed=31)
    second = images.push_oci_image(src, "b", "1", seed=32)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# images\n{name(src, 'a', '1')}\n")
    archive = tmp_path / "a.zip"
    assert hangard("save", "--list", str(listing), "-o", str(archive), "--plain-http").code == 0
    with zipfile.ZipFile(archive) as zf:
        before = {i.filename: i.header_offset for i in zf.infolist()}

    exists = hangard("save", name(src, "b", "1"), "-o", str(archive), "--plain-http")
    assert exists.code == 2 and "--append" in exists.err

    added = hangard("archive", "sync", str(archive), name(src, "b", "1"), "--plain-http")
    assert added.code == 0 and "(appended)" in added.out, added.err
    with zipfile.ZipFile(archive) as zf:
        after = {i.filename: i.header_offset for i in zf.infolist()}
    kept = {n: o for n, o in before.items() if n != "index.json"}
    assert kept.items() <= after.items()  # the blobs stayed where they were
    assert share_name(second.digest) in after and share_name(first.digest) in after
    listed = json.loads(hangard("archive", "ls", str(archive), "-o", "json").out)
    assert sorted(r["tag"] + r["source"][-1] for r in listed["images"]) == ["1a", "1b"]


def test_a_damaged_blob_is_refused_by_verify_and_load(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "app", "1", seed=41)
    archive = tmp_path / "a.zip"
    assert hangard("save", name(src, "app", "1"), "-o", str(archive), "--plain-http").code == 0
    layer = image.layers[0]
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(share_name(layer.digest))
    data = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 3] ^= 0xFF
    archive.write_bytes(bytes(data))

    checked = hangard("archive", "verify", str(archive))
    assert checked.code == 1
    assert f"blob {layer.digest} is damaged" in checked.err
    assert f"needed by {name(src, 'app', '1')}" in checked.err

    loaded = hangard("load", str(archive), "--to", dst.host, "--plain-http")
    assert loaded.code == 1
    failed = [line for line in loaded.err.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and name(src, "app", "1") in failed[0], loaded.err
    assert layer.digest.removeprefix("sha256:") in failed[0] and "damaged" in failed[0]
    assert not images.manifest_exists(dst, "app", "1")
    assert not images.blob_exists(dst, "app", layer.digest)


def test_load_a_platform_subset_under_another_project(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "team/app", "1", seed=91)
    wanted = index.children[0]
    assert wanted.platform is not None
    platform = f"{wanted.platform['os']}/{wanted.platform['architecture']}"
    archive = tmp_path / "a.zip"
    assert hangard("save", name(src, "team/app", "1"), "-o", str(archive), "--plain-http").code == 0

    loaded = hangard(
        "load", str(archive), "--to", dst.host, "--plain-http", "--project", "edge",
        "--platform", platform,
    )  # fmt: skip
    assert loaded.code == 0, loaded.err
    assert not images.manifest_exists(dst, "team/app", "1")
    pushed = json.loads(skopeo.inspect_raw(dst, "edge/app", "1"))
    assert [m["digest"] for m in pushed["manifests"]] == [wanted.digest]
