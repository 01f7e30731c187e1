"""hangard.render: human-readable sizes, manifests and copy results."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from hangard.copy.engine import CopyResult
from hangard.core import mediatypes as mt
from hangard.core.manifest import Manifest, parse_manifest
from hangard.render import human_size, render_copy_result, render_manifest, result_json

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def manifest(doc: dict[str, Any]) -> Manifest:
    return parse_manifest(json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (-1, "?"),
        (-(1 << 40), "?"),
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (KiB, "1.0 KiB"),
        (KiB + 1, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (10 * KiB - 52, "9.9 KiB"),
        (MiB, "1.0 MiB"),
        (int(2.25 * MiB), "2.2 MiB"),  # round half to even, as format() does
        (int(2.75 * MiB), "2.8 MiB"),
        (GiB, "1.0 GiB"),
        (TiB, "1.0 TiB"),
        (1023 * TiB, "1023.0 TiB"),
        (1024 * TiB, "1024.0 TiB"),  # TiB is the largest unit
        (5000 * TiB, "5000.0 TiB"),
    ],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [(MiB - 1, "1.0 MiB"), (GiB - 1, "1.0 GiB"), (TiB - 1, "1.0 TiB")],
)
def test_human_size_rounds_up_into_the_next_unit(n: int, text: str) -> None:
    assert human_size(n) == text


def test_human_size_just_under_a_unit_that_rounds_below_it_stays_in_the_smaller_unit() -> None:
    assert human_size(MiB - 1 - 52) == "1023.9 KiB"


def test_render_image_manifest() -> None:
    cfg, l1, l2 = sha("config"), sha("layer1"), sha("layer2")
    m = manifest(
        {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_MANIFEST,
            "config": {"mediaType": mt.DOCKER_CONFIG, "digest": cfg, "size": 1500},
            "layers": [
                {"mediaType": mt.DOCKER_LAYER_GZIP, "digest": l1, "size": 3 * MiB},
                {"mediaType": mt.DOCKER_LAYER_GZIP, "digest": l2, "size": 100},
            ],
        }
    )
    assert render_manifest("docker.io/library/nginx:1", m).splitlines() == [
        "Name:       docker.io/library/nginx:1",
        f"Digest:     {m.digest}",
        f"MediaType:  {mt.DOCKER_MANIFEST}",
        f"Size:       {len(m.raw)} bytes",
        f"Config:     {cfg}  1.5 KiB",
        f"Layers:     2  (total {human_size(1500 + 3 * MiB + 100)})",
        f"  {l1}  3.0 MiB  {mt.DOCKER_LAYER_GZIP}",
        f"  {l2}  100 B  {mt.DOCKER_LAYER_GZIP}",
    ]


def test_render_index_labels_platforms_attestations_and_unknowns() -> None:
    amd, arm, att, bare = sha("amd64"), sha("arm64"), sha("att"), sha("bare")
    m = manifest(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": amd,
                    "size": 500,
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": arm,
                    "size": 2048,
                    "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
                },
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": att,
                    "size": 800,
                    "platform": {"os": "unknown", "architecture": "unknown"},
                    "annotations": {
                        "vnd.docker.reference.type": "attestation-manifest",
                        "vnd.docker.reference.digest": amd,
                    },
                },
                {"mediaType": mt.OCI_MANIFEST, "digest": bare, "size": 1},
            ],
        }
    )
    lines = render_manifest("idx", m).splitlines()
    assert lines[:5] == [
        "Name:       idx",
        f"Digest:     {m.digest}",
        f"MediaType:  {mt.OCI_INDEX}",
        f"Size:       {len(m.raw)} bytes",
        "Manifests:  4",
    ]
    assert lines[5:] == [
        f"  {'linux/amd64':<24} {amd}  500 B",
        f"  {'linux/arm/v7':<24} {arm}  2.0 KiB",
        f"  {'attestation for ' + amd[:19] + '…':<24} {att}  800 B",
        f"  {'-':<24} {bare}  1 B",
    ]
    assert not any(line.startswith(("Config:", "Layers:")) for line in lines)


def test_render_schema1_manifest_has_unknown_sizes_tag_and_arch() -> None:
    bottom, top = sha("bottom"), sha("top")
    m = manifest(
        {
            "schemaVersion": 1,
            "name": "library/busybox",
            "tag": "1.0",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": top}, {"blobSum": bottom}],
            "history": [{"v1Compatibility": "{}"}, {"v1Compatibility": "{}"}],
        }
    )
    assert m.is_schema1
    lines = render_manifest("busybox:1.0", m).splitlines()
    assert lines[4:] == [
        "Layers:     2  (total 0 B)",
        f"  {bottom}  ?  {mt.DOCKER_LAYER_GZIP}",
        f"  {top}  ?  {mt.DOCKER_LAYER_GZIP}",
        "Tag:        1.0",
        "Arch:       amd64",
    ]


SRC, DST = "docker.io/library/nginx:1", "mirror.example.com/nginx:1"
D1, D2 = sha("one"), sha("two")


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(
            CopyResult(SRC, DST, D1, None, mt.OCI_INDEX, skipped="no matching platform"),
            [f"skipped {SRC}: no matching platform"],
            id="skipped",
        ),
        pytest.param(
            CopyResult(SRC, DST, D1, D1, mt.OCI_INDEX, up_to_date=True),
            [f"up to date: {DST} is already {D1}"],
            id="up-to-date",
        ),
        pytest.param(
            CopyResult(
                SRC,
                DST,
                D1,
                D1,
                mt.OCI_MANIFEST,
                blobs_copied=2,
                blobs_mounted=1,
                blobs_present=3,
                bytes_moved=5 * MiB,
                duration=1.234,
            ),
            [
                f"copied {SRC} -> {DST}",
                f"  digest:    {D1}",
                "  blobs:     2 copied, 1 mounted, 3 already present; 5.0 MiB moved in 1.23s",
            ],
            id="copied",
        ),
        pytest.param(
            CopyResult(SRC, DST, D1, D2, mt.OCI_INDEX, platforms=("linux/amd64", "linux/arm64")),
            [
                f"copied {SRC} -> {DST}",
                f"  digest:    {D2}",
                f"  source:    {D1} (platform subset written as a new index)",
                "  platforms: linux/amd64, linux/arm64",
                "  blobs:     0 copied, 0 mounted, 0 already present; 0 B moved in 0.00s",
            ],
            id="platform-subset",
        ),
        pytest.param(
            CopyResult(
                SRC, DST, D1, D2, mt.DOCKER_MANIFEST, converted_from=mt.DOCKER_SCHEMA1_SIGNED
            ),
            [
                f"copied {SRC} -> {DST}",
                f"  digest:    {D2}",
                f"  source:    {D1} (converted from {mt.DOCKER_SCHEMA1_SIGNED})",
                "  blobs:     0 copied, 0 mounted, 0 already present; 0 B moved in 0.00s",
            ],
            id="converted",
        ),
    ],
)
def test_render_copy_result(result: CopyResult, expected: list[str]) -> None:
    assert render_copy_result(result).splitlines() == expected


def test_result_json_is_sorted_and_complete() -> None:
    result = CopyResult(SRC, DST, D1, D2, mt.OCI_INDEX, platforms=("linux/amd64",), bytes_moved=7)
    text = result_json(result)
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert doc["source"] == SRC and doc["target"] == DST
    assert doc["source_digest"] == D1 and doc["target_digest"] == D2
    assert doc["digest_preserved"] is False
    assert doc["platforms"] == ["linux/amd64"]
    assert doc["bytes_moved"] == 7
    assert text == result_json(result)
    preserved = json.loads(result_json(CopyResult(SRC, DST, D1, D1, mt.OCI_INDEX)))
    assert preserved["digest_preserved"] is True
