"""Attachments travel with their images through ``hangard sync`` (real
registries; skopeo checks what arrived)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from hangard.core.cosign import CosignSuffix, cosign_tag, referrers_fallback_tag
from tests.harness import attachments as att
from tests.harness import images, skopeo
from tests.harness.referrers import FakeReferrers
from tests.harness.registry import AccessLogEntry, Registry
from tests.helpers_cli import Hangard
from tests.test_sync import kind, plain, requests_since, summary, write_config


def _config(tmp_path: Path, src: Registry, dst: Registry, *entries: dict[str, object]) -> Path:
    return write_config(
        tmp_path / "hangard.yaml", plain(src, dst), {"m": (dst, "m")}, list(entries)
    )


def _attachment_heads(entries: Iterable[AccessLogEntry]) -> list[str]:
    """The attachment tags (``sha256-…``) ``HEAD``ed, in order."""
    tags = []
    for e in entries:
        _, sep, tag = e.path.partition("/manifests/")
        if e.method == "HEAD" and sep and tag.startswith("sha256-"):
            tags.append(tag)
    return tags


def _sync(hangard: Hangard, config: Path, *extra: str) -> tuple[int, ...]:
    run = hangard("sync", "--once", "--no-progress", *extra, str(config))
    assert run.code == 0, run.err + run.out
    return summary(run)


def test_signatures_of_an_image_and_a_new_one_next_cycle(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """The .sig/.att/.sbom tags are copied with the image; a signature added
    at the source later (the image digest unchanged) is copied once a cycle
    has re-checked it, which the plan announces. One image-target re-checks
    one of its two attachments per cycle (``plan`` included), the least
    recently checked first: within ceil(2 / 1) = 2 cycles."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "lib/app", "v1", seed=1)
    sig = att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SIGNATURE, 1)
    sbom = att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SBOM, 2)
    config = _config(tmp_path, src, dst, {"source": f"{src.host}/lib/app", "tags": ["v1"]})

    assert _sync(hangard, config) == (1, 0, 0, 0)

    for artifact, suffix in ((sig, CosignSuffix.SIGNATURE), (sbom, CosignSuffix.SBOM)):
        got = skopeo.inspect_raw(dst, "m/lib/app", cosign_tag(image.digest, suffix))
        assert got == artifact.manifest
    assert _sync(hangard, config) == (0, 1, 0, 0)
    # the record of what was copied is lost: the targets' tags are HEADed once
    (hangard.state_dir / "subset-cache.json").unlink()
    assert _sync(hangard, config) == (0, 1, 0, 0)

    resigned = att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SIGNATURE, 1, 3)
    plans, rechecked = [], []
    for _ in range(2):
        seen = len(src.access_log())
        plans.append(hangard("plan", str(config)).out)
        rechecked.append(_attachment_heads(requests_since(src, seen)))
    # each plan re-checked one attachment (both were last checked by the
    # same cycle), the second plan the other one
    assert [len(tags) for tags in rechecked] == [1, 1], rechecked
    assert {*rechecked[0], *rechecked[1]} == {
        cosign_tag(image.digest, CosignSuffix.SIGNATURE),
        cosign_tag(image.digest, CosignSuffix.SBOM),
    }
    assert "copy (attachments: 1 missing)" in plans[1], plans

    assert _sync(hangard, config) == (1, 0, 0, 0)
    got = skopeo.inspect_raw(dst, "m/lib/app", cosign_tag(image.digest, CosignSuffix.SIGNATURE))
    assert got == resigned.manifest
    assert skopeo.inspect_raw(dst, "m/lib/app", "v1") == image.manifest
    assert _sync(hangard, config) == (0, 1, 0, 0)


def test_platform_filter_drops_its_childrens_attachments(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """An index signed as a whole and per child: a platform subset gets the
    kept child's signature, not the dropped children's nor the index's (the
    subset has another digest, and the plan says so); the whole index gets
    them all."""
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "lib/multi", "v1", seed=5)
    att.push_cosign(src, "lib/multi", index.digest, CosignSuffix.SIGNATURE, 5)
    for n, child in enumerate(index.children):
        att.push_cosign(src, "lib/multi", child.digest, CosignSuffix.SIGNATURE, 10 + n)
    arm = next(c for c in index.children if c.platform and c.platform["architecture"] == "arm64")
    doc = {
        "registries": plain(src, dst),
        "targets": {
            "sub": {"registry": dst.host, "prefix": "sub"},
            "all": {"registry": dst.host, "prefix": "all"},
        },
        "images": [
            {
                "source": f"{src.host}/lib/multi",
                "tags": ["v1"],
                "platforms": ["linux/arm64"],
                "targets": ["sub"],
            },
            {"source": f"{src.host}/lib/multi", "tags": ["v1"], "targets": ["all"]},
        ],
    }
    config = tmp_path / "hangard.yaml"
    config.write_text(json.dumps(doc))

    plan = hangard("plan", str(config))
    assert "index's own attachments are not copied" in plan.out, plan.out
    assert _sync(hangard, config) == (2, 0, 0, 0)

    sub_tags = set(skopeo.list_tags(dst, "sub/lib/multi"))
    assert sub_tags == {"v1", cosign_tag(arm.digest, CosignSuffix.SIGNATURE)}
    all_tags = set(skopeo.list_tags(dst, "all/lib/multi"))
    assert all_tags == {
        "v1",
        cosign_tag(index.digest, CosignSuffix.SIGNATURE),
        *(cosign_tag(c.digest, CosignSuffix.SIGNATURE) for c in index.children),
    }
    assert _sync(hangard, config) == (0, 2, 0, 0)


def test_referrers_behind_a_fallback_tag_merge_into_the_target(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """An OCI 1.1 referrer (``subject``, ``artifactType``) listed by the
    source's fallback tag is pushed by digest; registry 2.8 does not answer
    ``OCI-Subject``, so the target's fallback index is written, merged with
    the entry it already had."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "lib/app", "v1", seed=7)
    sbom = att.referrer(image, att.SBOM_TYPE, seed=1)
    att.push_referrers(src, "lib/app", image.digest, [(sbom, att.SBOM_TYPE)])
    # the target already lists another referrer of the same image
    images.push_oci_image(dst, "m/lib/app", "v1", seed=7)
    theirs = att.referrer(image, "application/vnd.example.other", seed=2)
    att.push_referrers(dst, "m/lib/app", image.digest, [(theirs, "application/vnd.example.other")])
    config = _config(tmp_path, src, dst, {"source": f"{src.host}/lib/app", "tags": ["v1"]})

    assert "copy (attachments: 1 missing)" in hangard("plan", str(config)).out
    assert _sync(hangard, config) == (1, 0, 0, 0)

    assert skopeo.inspect_raw(dst, "m/lib/app", sbom.digest) == sbom.manifest
    fallback = json.loads(
        skopeo.inspect_raw(dst, "m/lib/app", referrers_fallback_tag(image.digest))
    )
    listed = {m["digest"]: m.get("artifactType") for m in fallback["manifests"]}
    assert listed == {theirs.digest: "application/vnd.example.other", sbom.digest: att.SBOM_TYPE}
    assert _sync(hangard, config) == (0, 1, 0, 0)


def test_no_attachments_and_artifact_type_filter(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """``--no-attachments`` copies the image alone; ``artifact_types`` keeps
    only the listed types; ``--remove-signatures`` leaves signatures behind."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "lib/app", "v1", seed=9)
    att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SIGNATURE, 1)
    att.push_cosign(src, "lib/app", image.digest, CosignSuffix.ATTESTATION, 2)
    att.push_cosign(src, "lib/app", image.digest, CosignSuffix.SBOM, 3)
    entry: dict[str, object] = {"source": f"{src.host}/lib/app", "tags": ["v1"]}
    config = _config(tmp_path, src, dst, entry)

    assert _sync(hangard, config, "--no-attachments") == (1, 0, 0, 0)
    assert skopeo.list_tags(dst, "m/lib/app") == ["v1"]
    assert _sync(hangard, config, "--no-attachments") == (0, 1, 0, 0)

    assert _sync(hangard, config, "--remove-signatures") == (1, 0, 0, 0)
    assert set(skopeo.list_tags(dst, "m/lib/app")) == {
        "v1",
        cosign_tag(image.digest, CosignSuffix.ATTESTATION),
        cosign_tag(image.digest, CosignSuffix.SBOM),
    }

    sbom_only = {
        **entry,
        "attachments": {"artifact_types": ["application/vnd.dev.cosign.artifact.sbom.v1+json"]},
    }
    config = _config(tmp_path, src, dst, {**sbom_only, "destination": "other/app"})
    assert _sync(hangard, config) == (1, 0, 0, 0)
    assert set(skopeo.list_tags(dst, "other/app")) == {
        "v1",
        cosign_tag(image.digest, CosignSuffix.SBOM),
    }


def test_steady_state_costs_one_tag_list_and_a_head_per_attachment(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """Nothing changed: per item the two manifest HEADs of before; for
    attachments the source repository's tag list (shared by its tags and
    targets) and one HEAD per attachment the source has (2, within the
    re-check budget of one per image-target, 8); nothing more on the
    targets, and no manifest or blob GET."""
    src, dst = plain_registry, plain_registry2
    signed = images.push_oci_image(src, "eco/app", "v1", seed=20)
    images.push_oci_image(src, "eco/app", "v2", seed=21)  # unsigned
    att.push_cosign(src, "eco/app", signed.digest, CosignSuffix.SIGNATURE, 1)
    images.push_oci_image(src, "eco/plain", "v1", seed=22)  # a repository without attachments
    index = images.push_oci_index(src, "eco/multi", "v1", seed=23)
    arm = next(c for c in index.children if c.platform and c.platform["architecture"] == "arm64")
    att.push_cosign(src, "eco/multi", arm.digest, CosignSuffix.SIGNATURE, 2)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"a": (dst, "a"), "b": (dst, "b")},
        [
            {"source": f"{src.host}/eco/app", "tags": ["v1", "v2"]},
            {"source": f"{src.host}/eco/plain", "tags": ["v1"]},
            {"source": f"{src.host}/eco/multi", "tags": ["v1"], "platforms": ["linux/arm64"]},
        ],
        default_targets=["a", "b"],
    )
    assert _sync(hangard, config) == (8, 0, 0, 0)
    arm_sig = cosign_tag(arm.digest, CosignSuffix.SIGNATURE)
    assert images.manifest_exists(dst, "b/eco/multi", arm_sig)
    src_seen, dst_seen = len(src.access_log()), len(dst.access_log())

    assert _sync(hangard, config) == (0, 8, 0, 0)

    on_src = Counter((e.method, kind(e), e.status) for e in requests_since(src, src_seen))
    on_dst = Counter((e.method, kind(e), e.status) for e in requests_since(dst, dst_seen))
    # 4 source tags + 2 attachment HEADs (the subset child's signature too:
    # which children the subset has is remembered); 3 repositories' tag lists
    assert on_src == {
        ("GET", "ping", 200): 1,
        ("HEAD", "manifests", 200): 6,
        ("GET", "tags", 200): 3,
    }
    assert on_dst == {("GET", "ping", 200): 1, ("HEAD", "manifests", 200): 8}


def test_referrers_api_on_both_sides(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """A source with the referrers API (a fake in front of a real registry)
    is asked for the referrers; a target that answers ``OCI-Subject`` keeps
    its own list, so no fallback tag is written there."""
    src, dst = plain_registry, plain_registry2
    image = images.push_oci_image(src, "lib/app", "v1", seed=11)
    sbom = att.referrer(image, att.SBOM_TYPE, seed=3)
    images.push_image(src, "lib/app", sbom)
    with FakeReferrers(src.host) as source, FakeReferrers(dst.host) as target:
        source.referrers[("lib/app", image.digest)] = [sbom.descriptor(artifactType=att.SBOM_TYPE)]
        doc = {
            "registries": {source.host: {"http": True}, target.host: {"http": True}},
            "targets": {"m": {"registry": target.host, "prefix": "m"}},
            "defaults": {"targets": ["m"]},
            "images": [{"source": f"{source.host}/lib/app", "tags": ["v1"]}],
        }
        config = tmp_path / "hangard.yaml"
        config.write_text(json.dumps(doc))

        assert _sync(hangard, config) == (1, 0, 0, 0)
        assert target.referrers[("m/lib/app", image.digest)][0]["digest"] == sbom.digest
        asked = source.count("GET", r"/referrers/")
        assert _sync(hangard, config) == (0, 1, 0, 0)
        assert source.count("GET", r"/referrers/") == asked + 1  # one per subject per cycle

    assert skopeo.inspect_raw(dst, "m/lib/app", sbom.digest) == sbom.manifest
    assert referrers_fallback_tag(image.digest) not in skopeo.list_tags(dst, "m/lib/app")
