"""Manifest parsing and platform selection (hangard.core.manifest)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangard.core import mediatypes as mt
from hangard.core.manifest import (
    Descriptor,
    Manifest,
    digest_of,
    parse_manifest,
    select_platforms,
)
from hangard.core.platform import Platform, parse_platform
from hangard.errors import DigestMismatchError, UnsupportedMediaTypeError


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


CONFIG = sha("config")
L1, L2 = sha("layer1"), sha("layer2")

DOCKER_V2 = b"""{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1469,
      "digest": "%(config)s"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 2811478,
         "digest": "%(l1)s"
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 100,
         "digest": "%(l2)s"
      }
   ]
}""" % {b"config": CONFIG.encode(), b"l1": L1.encode(), b"l2": L2.encode()}

OCI_MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":7,"digest":"'
    + CONFIG.encode()
    + b'"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":3,'
    b'"digest":"' + L1.encode() + b'"}],"annotations":{"org.example":"x"}}'
)

SCHEMA1 = (
    b'{"schemaVersion":1,"name":"library/app","tag":"v1","architecture":"amd64",'
    b'"fsLayers":[{"blobSum":"' + L2.encode() + b'"},{"blobSum":"' + L1.encode() + b'"}],'
    b'"history":[{"v1Compatibility":"{}"},{"v1Compatibility":"{}"}]}'
)
SCHEMA1_SIGNED = SCHEMA1[:-1] + b',"signatures":[{"header":{},"signature":"x","protected":"y"}]}'

AMD64, ARM64, ARMV7 = sha("amd64"), sha("arm64"), sha("armv7")
ATT_AMD64, ATT_ARM64 = sha("att-amd64"), sha("att-arm64")


def index_entries() -> list[dict[str, Any]]:
    def image(digest: str, arch: str, variant: str | None = None) -> dict[str, Any]:
        platform = {"architecture": arch, "os": "linux"}
        if variant:
            platform["variant"] = variant
        return {"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": 500, "platform": platform}

    def attestation(digest: str, of: str) -> dict[str, Any]:
        return {
            "mediaType": mt.OCI_MANIFEST,
            "digest": digest,
            "size": 800,
            "annotations": {
                "vnd.docker.reference.digest": of,
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        }

    return [
        image(AMD64, "amd64"),
        image(ARM64, "arm64"),  # no variant: means v8
        image(ARMV7, "arm", "v7"),
        attestation(ATT_AMD64, AMD64),
        attestation(ATT_ARM64, ARM64),
    ]


OCI_INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": index_entries(),
        "annotations": {"org.opencontainers.image.source": "https://example.com/app"},
    },
    indent=2,
).encode()

DOCKER_LIST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [{**e, "mediaType": mt.DOCKER_MANIFEST} for e in index_entries()[:3]],
    },
    indent=3,
).encode()

ALL_TYPES = [
    (DOCKER_V2, mt.DOCKER_MANIFEST),
    (OCI_MANIFEST, mt.OCI_MANIFEST),
    (OCI_INDEX, mt.OCI_INDEX),
    (DOCKER_LIST, mt.DOCKER_MANIFEST_LIST),
    (SCHEMA1, mt.DOCKER_SCHEMA1),
    (SCHEMA1_SIGNED, mt.DOCKER_SCHEMA1_SIGNED),
]


@pytest.mark.parametrize(("raw", "media_type"), ALL_TYPES, ids=[t for _, t in ALL_TYPES])
def test_parse_each_supported_type(raw: bytes, media_type: str) -> None:
    manifest = parse_manifest(raw, expected_digest=digest_of(raw), image="r.example.com/app:v1")
    assert manifest.media_type == media_type
    assert manifest.raw == raw
    assert manifest.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert manifest.is_index == (media_type in mt.INDEX_TYPES)
    assert manifest.is_schema1 == (media_type in mt.SCHEMA1_TYPES)


def test_single_manifest_blobs() -> None:
    manifest = parse_manifest(DOCKER_V2)
    assert manifest.config == Descriptor(mt.DOCKER_CONFIG, CONFIG, 1469)
    assert [(d.digest, d.size) for d in manifest.layers] == [(L1, 2811478), (L2, 100)]
    assert [d.digest for d in manifest.blobs] == [CONFIG, L1, L2]
    assert manifest.total_size == 1469 + 2811478 + 100
    assert manifest.children == []


def test_schema1_layers_bottom_up() -> None:
    manifest = parse_manifest(SCHEMA1)
    assert manifest.config is None
    assert [d.digest for d in manifest.layers] == [L1, L2]
    assert all(d.size == -1 for d in manifest.layers)


def test_index_children() -> None:
    manifest = parse_manifest(OCI_INDEX)
    assert [d.digest for d in manifest.children] == [AMD64, ARM64, ARMV7, ATT_AMD64, ATT_ARM64]
    assert manifest.children[3].attests == AMD64
    assert manifest.children[0].attests is None
    assert manifest.layers == [] and manifest.config is None


@pytest.mark.parametrize(
    ("raw", "hint", "expected"),
    [
        # No mediaType in the document: the Content-Type decides, then the shape.
        (b'{"schemaVersion":2,"manifests":[]}', mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST_LIST),
        (b'{"schemaVersion":2,"manifests":[]}', None, mt.OCI_INDEX),
        (b'{"schemaVersion":2,"manifests":[]}', "application/json", mt.OCI_INDEX),
        (
            b'{"schemaVersion":2,"config":{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}',
            None,
            mt.OCI_MANIFEST,
        ),
        (
            b'{"schemaVersion":2,"config":{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}',
            mt.DOCKER_MANIFEST + "; charset=utf-8",
            mt.DOCKER_MANIFEST,
        ),
        # The document's own mediaType wins over the header.
        (
            b'{"schemaVersion":2,"mediaType":"' + mt.OCI_INDEX.encode() + b'","manifests":[]}',
            mt.DOCKER_MANIFEST,
            mt.OCI_INDEX,
        ),
    ],
)
def test_media_type_detection(raw: bytes, hint: str | None, expected: str) -> None:
    assert parse_manifest(raw, media_type=hint).media_type == expected


@pytest.mark.parametrize(
    ("raw", "hint", "shown"),
    [
        (
            b'{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}',
            None,
            "application/vnd.oci.artifact.manifest.v1+json",
        ),
        (b"<html>nope</html>", "text/html", "text/html"),
        (b"[1, 2]", None, "non-JSON document"),
        (b'{"hello": "world"}', "application/vnd.example+json", "application/vnd.example+json"),
    ],
)
def test_unsupported_media_type(raw: bytes, hint: str | None, shown: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as info:
        parse_manifest(raw, media_type=hint, image="r.example.com/app:v1")
    message = str(info.value)
    assert "unsupported MIME type" in message
    assert shown in message
    assert "r.example.com/app:v1" in message
    assert info.value.reason == "unsupported_media_type"


def test_digest_mismatch() -> None:
    wrong = sha("something else")
    with pytest.raises(DigestMismatchError) as info:
        parse_manifest(DOCKER_V2, expected_digest=wrong, image="r.example.com/app:v1")
    assert info.value.expected == wrong
    assert info.value.actual == digest_of(DOCKER_V2)
    assert "r.example.com/app:v1" in str(info.value)
    assert info.value.reason == "digest_mismatch"


# --- select_platforms ----------------------------------------------------------------


def platforms(*texts: str) -> list[Platform]:
    return [parse_platform(t) for t in texts]


@pytest.mark.parametrize("wanted", [None, [], platforms("linux/amd64", "linux/arm64", "linux/arm")])
def test_all_selected_keeps_original_bytes(wanted: list[Platform] | None) -> None:
    index = parse_manifest(OCI_INDEX)
    selection = select_platforms(index, wanted)
    assert selection.all_selected
    assert selection.manifest is index
    assert selection.manifest.raw == OCI_INDEX
    assert selection.manifest.digest == digest_of(OCI_INDEX)
    assert len(selection.selected) == 5
    assert selection.platform_digests == {
        "linux/amd64": AMD64,
        "linux/arm64": ARM64,
        "linux/arm/v7": ARMV7,
    }


def test_subset_gives_deterministic_new_index() -> None:
    index = parse_manifest(OCI_INDEX)
    first = select_platforms(index, platforms("linux/amd64"))
    second = select_platforms(parse_manifest(OCI_INDEX), platforms("linux/amd64"))
    assert not first.all_selected
    assert first.manifest is not None and second.manifest is not None
    assert first.manifest.raw == second.manifest.raw
    assert first.manifest.digest == second.manifest.digest == digest_of(first.manifest.raw)
    assert first.manifest.digest != index.digest
    assert first.manifest.media_type == mt.OCI_INDEX

    doc = json.loads(first.manifest.raw)
    assert doc["mediaType"] == mt.OCI_INDEX
    assert doc["annotations"] == {"org.opencontainers.image.source": "https://example.com/app"}
    assert list(doc) == list(json.loads(OCI_INDEX))  # original key order
    # The attestation for amd64 travels with it; arm64's does not.
    assert [m["digest"] for m in doc["manifests"]] == [AMD64, ATT_AMD64]
    assert doc["manifests"][1] == index_entries()[3]
    assert first.platform_digests == {"linux/amd64": AMD64}

    reparsed = parse_manifest(first.manifest.raw, expected_digest=first.manifest.digest)
    assert reparsed.media_type == mt.OCI_INDEX
    assert [d.digest for d in reparsed.children] == [AMD64, ATT_AMD64]


def test_subset_of_docker_list_keeps_its_media_type() -> None:
    index = parse_manifest(DOCKER_LIST)
    selection = select_platforms(index, platforms("linux/arm/v7"))
    assert selection.manifest is not None
    assert selection.manifest.media_type == mt.DOCKER_MANIFEST_LIST
    assert json.loads(selection.manifest.raw)["mediaType"] == mt.DOCKER_MANIFEST_LIST
    assert selection.platform_digests == {"linux/arm/v7": ARMV7}


def test_none_matched() -> None:
    selection = select_platforms(parse_manifest(OCI_INDEX), platforms("linux/s390x"))
    assert selection.manifest is None
    assert selection.selected == ()
    assert not selection.all_selected


def test_unknown_platform_request_does_not_pick_attestations() -> None:
    selection = select_platforms(parse_manifest(OCI_INDEX), platforms("unknown/unknown"))
    assert selection.manifest is None


@pytest.mark.parametrize(
    ("wanted", "digests"),
    [
        ("linux/arm64/v8", [ARM64, ATT_ARM64]),  # entry has no variant: v8 implied
        ("linux/arm64", [ARM64, ATT_ARM64]),
        ("linux/arm64/v9", []),
        ("linux/arm/v7", [ARMV7]),
        ("linux/arm/v6", []),
        ("linux/arm", [ARMV7]),
    ],
)
def test_arm_variants(wanted: str, digests: list[str]) -> None:
    selection = select_platforms(parse_manifest(OCI_INDEX), platforms(wanted))
    assert [d.digest for d in selection.selected] == digests


@given(st.sets(st.sampled_from(["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/ppc64le"])))
def test_property_selection_is_deterministic_and_consistent(wanted: set[str]) -> None:
    chosen = platforms(*sorted(wanted))
    one = select_platforms(parse_manifest(OCI_INDEX), chosen)
    two = select_platforms(parse_manifest(OCI_INDEX), list(reversed(chosen)))
    assert one == two
    selected = {d.digest for d in one.selected}
    # Attestations are selected exactly when the image they describe is.
    assert (ATT_AMD64 in selected) == (AMD64 in selected)
    assert (ATT_ARM64 in selected) == (ARM64 in selected)
    if one.manifest is None:
        assert not selected
    else:
        assert isinstance(one.manifest, Manifest)
        assert [d.digest for d in one.manifest.children] == [d.digest for d in one.selected]
        assert one.manifest.digest == digest_of(one.manifest.raw)
