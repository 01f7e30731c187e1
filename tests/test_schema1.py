"""Schema1 → schema2 conversion (hangard.core.schema1)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangard.core import mediatypes as mt
from hangard.core.manifest import digest_of, parse_manifest
from hangard.core.schema1 import (
    EMPTY_GZIP_LAYER,
    LayerInfo,
    convert_schema1,
    schema1_layers,
)
from hangard.errors import InvalidManifestError, OperationError, Schema1ConversionError


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def v1id(n: int) -> str:
    return hashlib.sha256(f"id{n}".encode()).hexdigest()


BASE = sha("base-layer")
APP = sha("app-layer")
# Bottom-up: base, ENV (throwaway), app, CMD (empty gzip blob, no throwaway flag), base again.
BOTTOM_UP: list[tuple[str, dict[str, Any]]] = [
    (
        BASE,
        {
            "created": "2016-01-01T00:00:00Z",
            "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ADD file:abc in /"]},
        },
    ),
    (
        EMPTY_GZIP_LAYER,
        {
            "created": "2016-01-02T00:00:00Z",
            "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ENV A=1"]},
            "throwaway": True,
        },
    ),
    (
        APP,
        {
            "created": "2016-01-03T00:00:00Z",
            "author": "Jane <jane@example.com>",
            "comment": "app",
            "container_config": {"Cmd": ["/bin/sh", "-c", "make install"]},
        },
    ),
    (
        EMPTY_GZIP_LAYER,
        {
            "created": "2016-01-04T00:00:00Z",
            "container_config": {"Cmd": ["/bin/sh", "-c", '#(nop) CMD ["app"]']},
        },
    ),
    (
        BASE,
        {
            "created": "2016-01-05T00:00:00Z",
            "container_config": {"Cmd": ["/bin/sh", "-c", "cp -a /x /y"]},
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["app"], "Env": ["A=1"]},
            "docker_version": "1.12.0",
            "Size": 123,
            "parent_id": "sha256:" + "1" * 64,
            "layer_id": "sha256:" + "2" * 64,
        },
    ),
]
INFOS = {
    BASE: LayerInfo(diff_id=sha("base-uncompressed"), size=1000),
    APP: LayerInfo(diff_id=sha("app-uncompressed"), size=2000),
}


def schema1_doc(bottom_up: list[tuple[str, dict[str, Any]]] = BOTTOM_UP) -> dict[str, Any]:
    fs_layers, history = [], []
    parent = ""
    for n, (blob, compat) in enumerate(bottom_up):
        entry = {"id": v1id(n), **compat}
        if parent:
            entry["parent"] = parent
        parent = entry["id"]
        fs_layers.append({"blobSum": blob})
        history.append({"v1Compatibility": json.dumps(entry)})
    return {
        "schemaVersion": 1,
        "name": "library/app",
        "tag": "v1",
        "architecture": "amd64",
        "fsLayers": list(reversed(fs_layers)),
        "history": list(reversed(history)),
    }


def as_manifest(doc: dict[str, Any]) -> Any:
    return parse_manifest(json.dumps(doc).encode(), image="example.com/app:v1")


def test_schema1_layers_are_distinct_non_empty_bottom_up() -> None:
    assert schema1_layers(as_manifest(schema1_doc())) == [BASE, APP]


def test_convert_builds_config_and_manifest() -> None:
    result = convert_schema1(as_manifest(schema1_doc()), INFOS)
    config = json.loads(result.config)
    manifest = json.loads(result.manifest)

    assert result.config_digest == digest_of(result.config)
    assert result.manifest_digest == digest_of(result.manifest)
    assert config["rootfs"] == {
        "type": "layers",
        "diff_ids": [INFOS[BASE].diff_id, INFOS[APP].diff_id, INFOS[BASE].diff_id],
    }
    assert [h.get("empty_layer", False) for h in config["history"]] == [
        False,
        True,
        False,
        True,
        False,
    ]
    assert config["history"][0] == {
        "created": "2016-01-01T00:00:00Z",
        "created_by": "/bin/sh -c #(nop) ADD file:abc in /",
    }
    assert config["history"][2] == {
        "created": "2016-01-03T00:00:00Z",
        "created_by": "/bin/sh -c make install",
        "author": "Jane <jane@example.com>",
        "comment": "app",
    }
    # Based on the top-most v1Compatibility, v1-only keys dropped.
    assert config["architecture"] == "amd64"
    assert config["os"] == "linux"
    assert config["config"] == {"Cmd": ["app"], "Env": ["A=1"]}
    for key in ("id", "parent", "Size", "parent_id", "layer_id", "throwaway"):
        assert key not in config

    assert manifest == {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {
            "mediaType": mt.DOCKER_CONFIG,
            "size": len(result.config),
            "digest": result.config_digest,
        },
        "layers": [
            {"mediaType": mt.DOCKER_LAYER_GZIP, "size": 1000, "digest": BASE},
            {"mediaType": mt.DOCKER_LAYER_GZIP, "size": 2000, "digest": APP},
            {"mediaType": mt.DOCKER_LAYER_GZIP, "size": 1000, "digest": BASE},
        ],
    }
    # The result parses as a schema2 manifest.
    parsed = parse_manifest(result.manifest, expected_digest=result.manifest_digest)
    assert parsed.media_type == mt.DOCKER_MANIFEST
    assert [d.digest for d in parsed.layers] == [BASE, APP, BASE]


def test_conversion_is_deterministic() -> None:
    doc = schema1_doc()
    first = convert_schema1(as_manifest(doc), INFOS)
    # Same document serialised differently, extra LayerInfo and another dict order.
    again = parse_manifest(json.dumps(doc, indent=3).encode())
    infos = {sha("unused"): LayerInfo(sha("x"), 1), **dict(reversed(list(INFOS.items())))}
    assert convert_schema1(again, infos) == first


def test_signed_schema1_converts_too() -> None:
    doc = {**schema1_doc(), "signatures": [{"header": {}, "signature": "x", "protected": "y"}]}
    manifest = as_manifest(doc)
    assert manifest.media_type == mt.DOCKER_SCHEMA1_SIGNED
    assert convert_schema1(manifest, INFOS).manifest == (
        convert_schema1(as_manifest(schema1_doc()), INFOS).manifest
    )


def test_consecutive_repeated_v1_ids_are_collapsed() -> None:
    doc = schema1_doc()
    # Repeat the top-most entry, as old Docker pushes sometimes did.
    doc["fsLayers"].insert(0, doc["fsLayers"][0])
    doc["history"].insert(0, doc["history"][0])
    assert convert_schema1(as_manifest(doc), INFOS) == convert_schema1(
        as_manifest(schema1_doc()), INFOS
    )


def test_non_consecutive_repeated_v1_id_is_an_error() -> None:
    doc = schema1_doc()
    doc["fsLayers"].insert(0, doc["fsLayers"][2])
    doc["history"].insert(0, doc["history"][2])
    with pytest.raises(Schema1ConversionError, match="appears more than once"):
        convert_schema1(as_manifest(doc), INFOS)


def test_missing_layer_info_is_an_error() -> None:
    with pytest.raises(Schema1ConversionError, match=APP) as info:
        convert_schema1(as_manifest(schema1_doc()), {BASE: INFOS[BASE]})
    assert isinstance(info.value, OperationError)


def test_empty_layers_need_no_layer_info() -> None:
    only_empty = [(EMPTY_GZIP_LAYER, {"created": "2016-01-01T00:00:00Z"})]
    manifest = as_manifest(schema1_doc(only_empty))
    assert schema1_layers(manifest) == []
    config = json.loads(convert_schema1(manifest, {}).config)
    assert config["rootfs"] == {"type": "layers", "diff_ids": []}
    assert config["history"] == [{"created": "2016-01-01T00:00:00Z", "empty_layer": True}]


def _broken(change: str) -> dict[str, Any]:
    doc = schema1_doc()
    if change == "fewer history":
        doc["history"].pop()
    elif change == "no layers":
        doc["fsLayers"], doc["history"] = [], []
    elif change == "bad blobSum":
        doc["fsLayers"][1] = {"blobSum": "md5:abc"}
    elif change == "compat not JSON":
        doc["history"][1] = {"v1Compatibility": "{nope"}
    elif change == "compat not object":
        doc["history"][1] = {"v1Compatibility": "[1, 2]"}
    elif change == "compat missing":
        doc["history"][1] = {}
    elif change == "fsLayers not list":
        doc["fsLayers"] = {"blobSum": BASE}
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("fewer history", "5 fsLayers but 4 history entries"),
        ("no layers", "no fsLayers"),
        ("compat not JSON", r"history\[1\]\.v1Compatibility is not valid JSON"),
        ("compat not object", r"history\[1\]\.v1Compatibility is not a JSON object"),
        ("compat missing", r"history\[1\]\.v1Compatibility is not a string"),
    ],
)
def test_malformed_schema1_is_a_clear_error(change: str, message: str) -> None:
    manifest = as_manifest(_broken(change))
    with pytest.raises(Schema1ConversionError, match=message):
        convert_schema1(manifest, INFOS)
    with pytest.raises(Schema1ConversionError, match=message):
        schema1_layers(manifest)


def test_schema1_blobsum_that_is_no_digest_fails_to_parse() -> None:
    raw = json.dumps(_broken("bad blobSum")).encode()
    with pytest.raises(InvalidManifestError, match="invalid digest 'md5:abc' in manifest of x/y"):
        parse_manifest(raw, image="x/y")


def test_schema1_whose_layers_are_not_a_list_fails_to_parse() -> None:
    raw = json.dumps(_broken("fsLayers not list")).encode()
    with pytest.raises(InvalidManifestError, match="malformed"):
        parse_manifest(raw)


def test_bad_layer_info_is_an_error() -> None:
    with pytest.raises(Schema1ConversionError, match="not a sha256 digest"):
        convert_schema1(as_manifest(schema1_doc()), {**INFOS, APP: LayerInfo("nope", 1)})
    with pytest.raises(Schema1ConversionError, match="negative"):
        convert_schema1(as_manifest(schema1_doc()), {**INFOS, APP: LayerInfo(sha("a"), -1)})


def test_not_schema1_is_a_programming_error() -> None:
    config = {"digest": sha("c"), "size": 2}
    doc = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST, "config": config, "layers": []}
    with pytest.raises(ValueError, match="not a schema1 manifest"):
        convert_schema1(as_manifest(doc), {})


layer_kinds = st.sampled_from(["a", "b", "c", "throwaway", "emptygzip"])


@given(st.lists(layer_kinds, min_size=1, max_size=12))
def test_property_rootfs_matches_history(kinds: list[str]) -> None:
    bottom_up: list[tuple[str, dict[str, Any]]] = []
    for n, kind in enumerate(kinds):
        compat: dict[str, Any] = {"created": f"2020-01-01T00:00:{n:02d}Z"}
        if kind == "throwaway":
            bottom_up.append((sha("a"), {**compat, "throwaway": True}))
        elif kind == "emptygzip":
            bottom_up.append((EMPTY_GZIP_LAYER, compat))
        else:
            bottom_up.append((sha(kind), compat))
    manifest = as_manifest(schema1_doc(bottom_up))
    infos = {sha(k): LayerInfo(sha("diff-" + k), len(k)) for k in "abc"}
    result = convert_schema1(manifest, infos)
    config = json.loads(result.config)
    layers = json.loads(result.manifest)["layers"]

    real = [k for k in kinds if k in "abc"]
    assert config["rootfs"]["diff_ids"] == [sha("diff-" + k) for k in real]
    assert [d["digest"] for d in layers] == [sha(k) for k in real]
    assert len(config["history"]) == len(kinds)
    assert sum(not h.get("empty_layer") for h in config["history"]) == len(real)
    assert set(schema1_layers(manifest)) == {sha(k) for k in real}
    assert convert_schema1(manifest, infos) == result
