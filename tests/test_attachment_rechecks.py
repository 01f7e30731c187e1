"""The request economy of attachments in the steady state: at most one
re-check (a ``HEAD`` of an attachment tag, or a referrers ``GET``) per
image-target per cycle, the least recently checked first, counted in the
registries' access logs (real registries; a fake only for the referrers API
that distribution 2.8 lacks); a re-signed signature is copied within
ceil(attachments / image-targets) cycles, a new attachment tag the next
cycle."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from hangard.core.cosign import CosignSuffix, cosign_tag
from tests.harness import attachments as att
from tests.harness import images, skopeo
from tests.harness.referrers import FakeReferrers
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard
from tests.test_attachments_sync import _attachment_heads, _sync
from tests.test_sync import kind, plain, requests_since, write_config

TARGETS = ("a", "b", "c", "d")


def test_index_signed_per_child_costs_one_recheck_per_image_target(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """An index and each of its 3 children with .sig, .att and .sbom (12
    attachments) mirrored to 4 targets: a steady cycle costs the index tag's
    HEAD, the tag list, 4 re-check HEADs on the source and one HEAD per
    target, i.e. at most 3 requests per image-target; 3 cycles re-check each
    attachment once; a re-signed child signature reaches every target
    within ceil(12 / 4) = 3 cycles."""
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "lib/multi", "v1", seed=40)
    subjects = [index.digest, *(c.digest for c in index.children)]
    all_tags = set()
    for n, (subject, suffix) in enumerate((s, x) for s in subjects for x in CosignSuffix):
        att.push_cosign(src, "lib/multi", subject, suffix, n)
        all_tags.add(cosign_tag(subject, suffix))
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {t: (dst, t) for t in TARGETS},
        [{"source": f"{src.host}/lib/multi", "tags": ["v1"]}],
        default_targets=list(TARGETS),
    )
    assert _sync(hangard, config) == (4, 0, 0, 0)
    assert set(skopeo.list_tags(dst, "a/lib/multi")) == {"v1", *all_tags}

    rechecked: list[str] = []
    for _ in range(math.ceil(len(all_tags) / len(TARGETS))):
        src_seen, dst_seen = len(src.access_log()), len(dst.access_log())
        assert _sync(hangard, config) == (0, 4, 0, 0)
        on_src, on_dst = requests_since(src, src_seen), requests_since(dst, dst_seen)
        assert Counter((e.method, kind(e), e.status) for e in on_src) == {
            ("GET", "ping", 200): 1,
            ("HEAD", "manifests", 200): 1 + len(TARGETS),
            ("GET", "tags", 200): 1,
        }
        assert Counter((e.method, kind(e), e.status) for e in on_dst) == {
            ("GET", "ping", 200): 1,
            ("HEAD", "manifests", 200): len(TARGETS),
        }
        pings = 2
        assert len(on_src) + len(on_dst) - pings <= 3 * len(TARGETS)
        rechecked += _attachment_heads(on_src)
    # round robin: each attachment re-checked once in ceil(12 / 4) cycles
    assert sorted(rechecked) == sorted(all_tags)

    child_sig = cosign_tag(index.children[1].digest, CosignSuffix.SIGNATURE)
    resigned = att.push_cosign(
        src, "lib/multi", index.children[1].digest, CosignSuffix.SIGNATURE, 99
    )
    cycles = 0
    while skopeo.inspect_raw(dst, "d/lib/multi", child_sig) != resigned.manifest:
        cycles += 1
        assert cycles <= math.ceil(len(all_tags) / len(TARGETS)), "re-sign not copied in time"
        _sync(hangard, config)
    for target in TARGETS:  # the one re-check served every target
        assert skopeo.inspect_raw(dst, f"{target}/lib/multi", child_sig) == resigned.manifest
    assert skopeo.inspect_raw(dst, "a/lib/multi", "v1") == index.manifest
    assert _sync(hangard, config) == (0, 4, 0, 0)


def test_referrers_api_gets_share_the_budget(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """A source with the referrers API (a fake in front of a real registry):
    an index's 4 subjects each have referrers; with one image-target a
    steady cycle asks for one subject's referrers, the least recently asked,
    so 4 cycles ask each once; a referrer added to a subject is copied
    within 4 cycles."""
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "lib/multi", "v1", seed=41)
    subjects: list[images.Image | images.Index] = [index, *index.children]
    with FakeReferrers(src.host) as source:
        for n, subject in enumerate(subjects):
            sbom = att.referrer(subject, att.SBOM_TYPE, seed=n)
            images.push_image(src, "lib/multi", sbom)
            source.referrers[("lib/multi", subject.digest)] = [
                sbom.descriptor(artifactType=att.SBOM_TYPE)
            ]
        doc = {
            "registries": {source.host: {"http": True}, dst.host: {"http": True}},
            "targets": {"m": {"registry": dst.host, "prefix": "m"}},
            "defaults": {"targets": ["m"]},
            "images": [{"source": f"{source.host}/lib/multi", "tags": ["v1"]}],
        }
        config = tmp_path / "hangard.yaml"
        config.write_text(json.dumps(doc))
        assert _sync(hangard, config) == (1, 0, 0, 0)

        asked: list[str] = []
        for _ in subjects:
            seen = len(source.requests())
            assert _sync(hangard, config) == (0, 1, 0, 0)
            gets = [r.path for r in source.requests()[seen:] if "/referrers/" in r.path]
            assert len(gets) == 1, gets
            asked += gets
        assert sorted(p.rsplit("/", 1)[1] for p in asked) == sorted(s.digest for s in subjects)

        added = att.referrer(index.children[2], att.SBOM_TYPE, seed=77)
        images.push_image(src, "lib/multi", added)
        key = ("lib/multi", index.children[2].digest)
        source.referrers[key] = [
            *source.referrers[key],
            added.descriptor(artifactType=att.SBOM_TYPE),
        ]
        for _ in subjects:
            if _sync(hangard, config) == (1, 0, 0, 0):
                break
        else:
            raise AssertionError(f"the new referrer was not copied in {len(subjects)} cycles")
    assert skopeo.inspect_raw(dst, "m/lib/multi", added.digest) == added.manifest


def test_a_new_attachment_tag_is_copied_next_cycle_outside_the_budget(
    tmp_path: Path, hangard: Hangard, plain_registry: Registry, plain_registry2: Registry
) -> None:
    """An index and its children signed (4 signatures) to one target: a
    cycle re-checks one of them. An attestation added to a child is a tag
    new in the tag list: the next cycle looks it up besides its one
    re-check and copies it."""
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_index(src, "lib/multi", "v1", seed=42)
    for n, subject in enumerate([index.digest, *(c.digest for c in index.children)]):
        att.push_cosign(src, "lib/multi", subject, CosignSuffix.SIGNATURE, n)
    config = write_config(
        tmp_path / "hangard.yaml",
        plain(src, dst),
        {"m": (dst, "m")},
        [{"source": f"{src.host}/lib/multi", "tags": ["v1"]}],
    )
    assert _sync(hangard, config) == (1, 0, 0, 0)
    seen = len(src.access_log())
    assert _sync(hangard, config) == (0, 1, 0, 0)
    assert len(_attachment_heads(requests_since(src, seen))) == 1

    child = index.children[0].digest
    new = att.push_cosign(src, "lib/multi", child, CosignSuffix.ATTESTATION, 50)
    seen = len(src.access_log())
    assert _sync(hangard, config) == (1, 0, 0, 0)
    heads = _attachment_heads(requests_since(src, seen))
    new_tag = cosign_tag(child, CosignSuffix.ATTESTATION)
    assert new_tag in heads
    assert len(heads) == 2, heads  # the new tag and the cycle's one re-check
    assert skopeo.inspect_raw(dst, "m/lib/multi", new_tag) == new.manifest
