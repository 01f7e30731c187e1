"""The Hangar archive index model (hangard.core.archive): parsing with
clear errors and the version check, Hangar's key names on output, list
entries built from manifests and configs, and the index Hangar's load
rebuilds for a multi-platform entry. Pure: no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hangard.core import archive as ca
from hangard.core.archiveentry import build_entry, rebuild_index
from hangard.core.manifest import Manifest, parse_manifest
from hangard.errors import ArchiveError
from tests.harness import images

HANGAR_SPEC_KEYS = {
    "arch",
    "os",
    "osVersion",
    "osFeatures",
    "variant",
    "mediaType",
    "layers",
    "config",
    "digest",
    "annotations",
}
TIME = "2026-12-01T11:00:00Z"


def parsed(image: images.Image | images.Index) -> Manifest:
    return parse_manifest(image.manifest, media_type=image.media_type)


def entry_for(index: images.Index, source: str = "docker.io/library/app") -> ca.ListEntry:
    manifests = {m.digest: parsed(m) for m in index.all_manifests}
    configs = {m.config.digest: m.config.data for m in index.all_manifests}
    return build_entry(source, "v1", parsed(index), manifests, configs)


def test_an_index_entry_lists_each_platform_with_hangar_keys() -> None:
    index = images.build_index(3, attestations=True)
    entry = entry_for(index)
    doc = json.loads(ca.serialize_index(ca.ArchiveIndex((entry,)), time=TIME))
    assert list(doc) == ["list", "version", "time"]
    assert doc["version"] == "v1.2.0" and doc["time"] == TIME
    (item,) = doc["list"]
    assert list(item) == ["source", "tag", "archList", "osList", "images", "hangardIndex"]
    assert item["archList"] == sorted({p[1] for p in images.DEFAULT_PLATFORMS} | {"unknown"})
    assert item["hangardIndex"] == {
        "mediaType": index.media_type,
        "digest": index.digest,
        "size": len(index.manifest),
    }
    specs = item["images"]
    assert [s["digest"] for s in specs] == [m.digest for m in index.all_manifests]
    assert all(set(s) <= HANGAR_SPEC_KEYS for s in specs)
    first = index.children[0]
    assert specs[0]["config"] == first.config.digest
    assert specs[0]["layers"] == [layer.digest for layer in first.layers]
    assert "annotations" not in specs[0]  # Go's omitempty
    att = specs[len(index.children)]
    assert (att["arch"], att["os"]) == ("unknown", "unknown")
    assert att["annotations"] == {
        "vnd.docker.reference.digest": first.digest,
        "vnd.docker.reference.type": "attestation-manifest",
    }
    assert ca.parse_index(ca.serialize_index(ca.ArchiveIndex((entry,)), time=TIME), where="t") == (
        ca.ArchiveIndex((entry,), time=TIME)
    )
    assert entry.images[len(index.children)].attests == first.digest
    assert entry.images[0].attests is None


def test_a_single_manifest_takes_its_platform_from_the_config() -> None:
    image = images.build_image(5, oci=False, architecture="arm", variant="v7")
    entry = build_entry(
        "r.example/a/b", "t", parsed(image), {}, {image.config.digest: image.config.data}
    )
    (spec,) = entry.images
    assert (spec.os, spec.arch, spec.variant) == ("linux", "arm", "v7")
    assert spec.media_type == image.media_type and spec.digest == image.digest
    assert entry.index is None
    assert "hangardIndex" not in entry.to_json()
    assert entry.blobs == [image.digest, image.config.digest, *[x.digest for x in image.layers]]


def test_foreign_layers_are_left_out() -> None:
    layer = images.make_layer(1)
    foreign = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar",
        "digest": "sha256:" + "ab" * 32,
        "size": 10,
        "urls": ["https://example.invalid/layer"],
    }
    config = images.make_config([layer], architecture="amd64", os="windows", seed=1, docker=True)
    doc = {
        "schemaVersion": 2,
        "mediaType": images.DOCKER_SCHEMA2,
        "config": config.descriptor(),
        "layers": [foreign, layer.descriptor()],
    }
    manifest = parse_manifest(json.dumps(doc).encode())
    entry = build_entry("h/r", "t", manifest, {}, {config.digest: config.data})
    assert entry.images[0].layers == (layer.digest,)


def test_nested_indexes_and_missing_children_are_refused() -> None:
    inner = images.build_index(1)
    outer = {
        "schemaVersion": 2,
        "mediaType": images.OCI_INDEX,
        "manifests": [{"mediaType": images.OCI_INDEX, "digest": inner.digest, "size": 1}],
    }
    top = parse_manifest(json.dumps(outer).encode())
    with pytest.raises(ArchiveError, match="index inside an index"):
        build_entry("h/r", "t", top, {inner.digest: parsed(inner)}, {})
    with pytest.raises(ArchiveError, match="not in the archive"):
        build_entry("h/r", "t", top, {}, {})


def hangar_doc(**changes: Any) -> dict[str, Any]:
    image = images.build_image(2)
    spec = {
        "arch": "amd64",
        "os": "linux",
        "mediaType": image.media_type,
        "layers": [layer.digest for layer in image.layers],
        "config": image.config.digest,
        "digest": image.digest,
    }
    item = {"source": "docker.io/library/x", "tag": "1", "images": [spec]}
    doc: dict[str, Any] = {"list": [item], "version": "v1.2.0", "time": TIME}
    doc.update(changes)
    return doc


def test_a_hangar_index_parses_and_unknown_keys_are_ignored() -> None:
    doc = hangar_doc(future={"x": 1}, version="v1.3.0")
    index = ca.parse_index(json.dumps(doc).encode(), where="a.zip")
    (entry,) = index.entries
    assert entry.name == "docker.io/library/x:1" and entry.index is None
    assert index.find("docker.io/library/x", "1") is entry
    assert index.find("docker.io/library/x", "2") is None
    untagged = hangar_doc(list=[{"source": "h.io/a"}])
    assert ca.parse_index(json.dumps(untagged).encode(), where="a.zip").entries[0].tag == "latest"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"[", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps(hangar_doc(version="v1.1.0")).encode(), "older than v1.2.0"),
        (json.dumps(hangar_doc(version=None)).encode(), "is not a version"),
        (json.dumps(hangar_doc(list={})).encode(), "'list' is not a list"),
        (json.dumps(hangar_doc(list=[{"tag": "x"}])).encode(), r"list\[0\] has no source"),
        (
            json.dumps(hangar_doc(list=[{"source": "h.io/a", "tag": "../../x"}])).encode(),
            "invalid tag",
        ),
        (
            json.dumps(hangar_doc(list=[{"source": "h.io/A B", "tag": "1"}])).encode(),
            r"list\[0\]: invalid image reference",
        ),
        (
            json.dumps(hangar_doc(list=[{"source": "h.io/a:1", "tag": "1"}])).encode(),
            "without tag or digest",
        ),
    ],
)
def test_bad_indexes_are_refused_clearly(doc: bytes, message: str) -> None:
    with pytest.raises(ArchiveError, match=message) as caught:
        ca.parse_index(doc, where="bad.zip")
    assert str(caught.value).startswith("bad.zip: ")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("digest", "sha256:../../etc/passwd"),
        ("digest", "sha512:" + "a" * 128),
        ("layers", ["sha256:zz"]),
        ("config", 7),
    ],
)
def test_digests_that_would_name_other_entries_are_refused(field: str, value: object) -> None:
    doc = hangar_doc()
    doc["list"][0]["images"][0][field] = value
    with pytest.raises(ArchiveError, match=r"docker.io/library/x:1\) images\[0\]"):
        ca.parse_index(json.dumps(doc).encode(), where="bad.zip")


def test_with_entry_replaces_the_same_source_and_tag_in_place() -> None:
    one = entry_for(images.build_index(1), "h/a")
    two = entry_for(images.build_index(2), "h/b")
    again = entry_for(images.build_index(3), "h/a")
    index = ca.ArchiveIndex().with_entry(one).with_entry(two).with_entry(again)
    assert index.entries == (again, two)
    assert set(index.blobs) == set(again.blobs) | set(two.blobs)


def test_rebuilt_index_is_hangars_builder_output() -> None:
    index = images.build_index(4, attestations=True)
    entry = entry_for(index)
    sizes = {m.digest: len(m.manifest) for m in index.all_manifests}
    # drop the extension: what Hangar itself would have written
    hangar_entry = ca.ListEntry(entry.source, entry.tag, entry.images)
    rebuilt = rebuild_index(hangar_entry, sizes)
    doc = json.loads(rebuilt)
    assert rebuilt.startswith(b'{\n  "schemaVersion": 2,\n  "mediaType": ')
    assert doc["mediaType"] == images.OCI_INDEX
    assert [m["digest"] for m in doc["manifests"]] == [m.digest for m in index.all_manifests]
    first = doc["manifests"][0]
    assert list(first) == ["mediaType", "digest", "size", "platform"]
    assert first["platform"] == {"architecture": "amd64", "os": "linux"}
    assert doc["manifests"][-1]["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert parse_manifest(rebuilt).digest != index.digest


def test_rebuild_drops_attestations_of_absent_images_and_duplicate_platforms() -> None:
    index = images.build_index(6, attestations=True)
    entry = entry_for(index)
    amd64, arm64 = entry.images[0], entry.images[1]
    att_arm64 = entry.images[3]
    again = images.build_image(99)  # another linux/amd64 manifest
    again_spec = ca.ImageSpec(again.digest, again.media_type, arch="amd64", os="linux")
    trimmed = ca.ListEntry("h/r", "t", (amd64, att_arm64, again_spec))
    sizes = {s.digest: 1 for s in (amd64, arm64, att_arm64, again_spec)}
    doc = json.loads(rebuild_index(trimmed, sizes))
    assert [m["digest"] for m in doc["manifests"]] == [again.digest]


def test_layout_names_and_layout_index() -> None:
    image = images.build_image(1)
    hexpart = image.digest[7:]
    assert ca.share_name(image.digest) == f"share/sha256/{hexpart}"
    assert ca.layout_names(image.digest) == (f"{hexpart}/index.json", f"{hexpart}/oci-layout")
    doc = json.loads(ca.layout_index(parsed(image)))
    assert doc["manifests"] == [
        {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest)}
    ]
    assert json.loads(ca.OCI_LAYOUT) == {"imageLayoutVersion": "1.0.0"}


def test_base_extension_round_trips() -> None:
    base = ca.BaseRef("old.zip", "ab" * 32)
    raw = ca.serialize_index(ca.ArchiveIndex(base=base), time=TIME)
    assert json.loads(raw)["hangardBase"] == {"name": "old.zip", "indexSha256": "ab" * 32}
    assert ca.parse_index(raw, where="d.zip").base == base
    with pytest.raises(ArchiveError, match="hangardBase needs"):
        ca.parse_index(json.dumps(hangar_doc(hangardBase=[])).encode(), where="d.zip")


def test_go_escapes_html_characters() -> None:
    spec = ca.ImageSpec("sha256:" + "0" * 64, annotations={"a": "<&>"})
    raw = ca.serialize_index(ca.ArchiveIndex((ca.ListEntry("h/r", "t", (spec,)),)), time=TIME)
    assert b"\\u003c\\u0026\\u003e" in raw and b"<" not in raw
