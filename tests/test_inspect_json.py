"""``hangard inspect -o json`` field by field against ``skopeo inspect`` of
the same image, and ``hangard tags`` against ``skopeo list-tags``, on real
registries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import images, skopeo
from tests.harness.images import Index
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

FIELDS = (
    "Name",
    "Digest",
    "RepoTags",
    "Created",
    "DockerVersion",
    "Labels",
    "Architecture",
    "Os",
    "Variant",
    "Layers",
    "LayersData",
    "Env",
)


def _ref(registry: Registry, repo: str, tag: str) -> str:
    return f"docker://{registry.host}/{repo}:{tag}"


def _inspect(hangard: Hangard, *args: str) -> dict[str, Any]:
    proc = hangard("inspect", "-o", "json", "--plain-http", *args)
    assert proc.code == 0, proc.err
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return doc


def _same_fields(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Every field this skopeo gives is equal; skopeo 1.9 (Debian 12) has
    no ``Variant`` and ``LayersData`` yet, so those are checked against
    the config and the layer list it does give."""
    for field in FIELDS:
        if field in theirs:
            assert ours.get(field) == theirs[field], field
    assert theirs["Layers"], "the image has layers to compare"
    assert [layer["Digest"] for layer in ours["LayersData"]] == theirs["Layers"]
    assert all(
        layer["MIMEType"].endswith("tar.gzip") or "gzip" in layer["MIMEType"]
        for layer in ours["LayersData"]
    )
    assert all(layer["Size"] > 0 for layer in ours["LayersData"])


@pytest.mark.parametrize("oci", [True, False], ids=["oci", "docker"])
def test_an_image_has_skopeos_fields(plain_registry: Registry, hangard: Hangard, oci: bool) -> None:
    image = images.build_image(seed=3, oci=oci, architecture="arm", variant="v7")
    images.push_image(plain_registry, "one/app", image, "v1")
    images.push_image(plain_registry, "one/app", image, "v2")

    ours = _inspect(hangard, "--tags", _ref(plain_registry, "one/app", "v1"))
    theirs = skopeo.inspect(plain_registry, "one/app", "v1")

    _same_fields(ours, theirs)
    assert ours["RepoTags"] == ["v1", "v2"] and ours["Variant"] == "v7"
    assert ours["LayersData"] == [
        {
            "MIMEType": layer.media_type,
            "Digest": layer.digest,
            "Size": layer.size,
            "Annotations": None,
        }
        for layer in image.layers
    ]
    assert ours["Labels"] == {"org.hangard.test.seed": "3"} and "Manifests" not in ours


def test_without_tags_repotags_is_empty(plain_registry: Registry, hangard: Hangard) -> None:
    images.push_image(plain_registry, "one/app", images.build_image(seed=4), "v1")

    ours = _inspect(hangard, _ref(plain_registry, "one/app", "v1"))

    assert ours["RepoTags"] == [] and ours["Layers"]


@pytest.fixture
def multi(plain_registry: Registry) -> Index:
    return images.push_oci_index(plain_registry, "multi/app", "v1", seed=5, attestations=True)


def test_an_index_gives_the_host_image_and_its_manifests(
    plain_registry: Registry, multi: Index, hangard: Hangard
) -> None:
    ours = _inspect(hangard, "--tags", _ref(plain_registry, "multi/app", "v1"))
    theirs = skopeo.inspect(plain_registry, "multi/app", "v1")

    _same_fields(ours, theirs)
    assert ours["Digest"] == multi.digest
    index = json.loads(multi.manifest)
    assert [m["Digest"] for m in ours["Manifests"]] == [d["digest"] for d in index["manifests"]]
    assert [m["Platform"] for m in ours["Manifests"]] == [d["platform"] for d in index["manifests"]]
    assert ours["Manifests"][3]["Annotations"]["vnd.docker.reference.type"] == (
        "attestation-manifest"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        ("--override-arch", "arm64"),
        ("--override-arch", "arm", "--override-variant", "v7"),
        ("--override-os", "linux", "--override-arch", "amd64"),
    ],
    ids=["arm64", "arm-v7", "os-amd64"],
)
def test_overrides_pick_the_child_skopeo_picks(
    plain_registry: Registry, multi: Index, hangard: Hangard, overrides: tuple[str, ...]
) -> None:
    ours = _inspect(hangard, "--tags", *overrides, _ref(plain_registry, "multi/app", "v1"))
    theirs = skopeo.inspect(plain_registry, "multi/app", "v1", *overrides)

    _same_fields(ours, theirs)
    child = next(c for c in multi.children if c.layers[0].digest == ours["Layers"][0])
    assert child.platform is not None and ours["Architecture"] == child.platform["architecture"]


def test_an_override_no_entry_matches_is_a_clear_error(
    plain_registry: Registry, multi: Index, hangard: Hangard
) -> None:
    proc = hangard(
        "inspect", "-o", "json", "--plain-http", "--override-os", "windows",
        _ref(plain_registry, "multi/app", "v1"),
    )  # fmt: skip

    assert proc.code == 2, proc.err
    assert "no entry for windows/amd64" in proc.err and "Traceback" not in proc.err


def test_json_and_raw_exclude_each_other(plain_registry: Registry, hangard: Hangard) -> None:
    proc = hangard("inspect", "-o", "json", "--raw", _ref(plain_registry, "one/app", "v1"))

    assert proc.code == 2 and "go with -o json" in proc.err


def test_an_oci_layout_image_has_the_same_fields(
    plain_registry: Registry, hangard: Hangard, tmp_path: Path
) -> None:
    images.push_image(plain_registry, "one/app", images.build_image(seed=6), "v1")
    layout = tmp_path / "layout"
    copied = hangard(
        "copy", "--src-plain-http", _ref(plain_registry, "one/app", "v1"), f"oci:{layout}:v1"
    )
    assert copied.code == 0, copied.err

    ours = _inspect(hangard, f"oci:{layout}:v1")
    theirs = skopeo.inspect(plain_registry, "one/app", "v1")

    _same_fields({**ours, "Name": theirs["Name"], "RepoTags": theirs["RepoTags"]}, theirs)
    assert ours["Name"] == f"oci:{layout}"


# ------------------------------------------------------------------------ tags
TAGS = ["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "latest", "v1.1.5"]


@pytest.fixture
def tagged(plain_registry: Registry) -> str:
    image = images.build_image(seed=7, layer_count=1)
    for tag in TAGS:
        images.push_image(plain_registry, "t/app", image, tag)
    return f"docker://{plain_registry.host}/t/app"


def test_tags_lists_what_skopeo_lists(
    plain_registry: Registry, tagged: str, hangard: Hangard
) -> None:
    text, as_json = hangard.many(
        ["tags", "--plain-http", tagged], ["tags", "-o", "json", "--plain-http", tagged]
    )

    assert text.code == 0 and as_json.code == 0, text.err + as_json.err
    assert text.out.splitlines() == sorted(skopeo.list_tags(plain_registry, "t/app"))
    assert json.loads(as_json.stdout) == {
        "Repository": f"{plain_registry.host}/t/app",
        "Tags": sorted(TAGS),
    }


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (["--semver", ">=1.1 <2"], ["v1.1.5", "1.1.0"]),
        (["--latest", "2"], ["2.0.0", "1.2.0-rc.1"]),
        (["--latest", "2", "--exclude", ".*-rc.*"], ["2.0.0", "v1.1.5"]),
        (["--include", "v.*", "--include", "latest"], ["latest", "v1.1.5"]),
    ],
    ids=["semver", "latest-counts-prereleases", "latest-exclude", "include"],
)
def test_tags_take_the_configs_rules(
    tagged: str, hangard: Hangard, rules: list[str], expected: list[str]
) -> None:
    proc = hangard("tags", "--plain-http", *rules, tagged)

    assert proc.code == 0, proc.err
    assert proc.out.splitlines() == expected


def test_a_bad_rule_is_refused_as_the_config_refuses_it(tagged: str, hangard: Hangard) -> None:
    bad_regex, bad_latest = hangard.many(
        ["tags", "--plain-http", "--include", "(", tagged],
        ["tags", "--plain-http", "--latest", "0", tagged],
    )

    assert bad_regex.code == 2 and "include" in bad_regex.err, bad_regex.err
    assert bad_latest.code == 2 and "latest" in bad_latest.err, bad_latest.err
    assert "Traceback" not in bad_regex.err + bad_latest.err


def test_tags_of_an_oci_layout(plain_registry: Registry, hangard: Hangard, tmp_path: Path) -> None:
    images.push_image(plain_registry, "one/app", images.build_image(seed=8), "v1")
    layout = tmp_path / "layout"
    for tag in ("b", "a"):
        done = hangard(
            "copy", "--src-plain-http", _ref(plain_registry, "one/app", "v1"), f"oci:{layout}:{tag}"
        )
        assert done.code == 0, done.err

    proc = hangard("tags", f"oci:{layout}")

    assert proc.code == 0, proc.err
    assert proc.out.splitlines() == ["a", "b"]
