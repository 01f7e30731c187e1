"""hangard.core.attachments: which digests carry attachments, which tags are
attachments, what is missing, and the fallback-index merge (pure)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from hangard.core.attachments import (
    COSIGN_ARTIFACT_TYPES,
    SUBSET_NOTE,
    Attachment,
    AttachmentKind,
    AttachmentSettings,
    attachments_in,
    image_subjects,
    merge_fallback_index,
    missing_attachments,
    subject_digests,
)
from hangard.core.cosign import CosignSuffix, cosign_tag, referrers_fallback_tag
from hangard.core.manifest import Descriptor, parse_manifest
from hangard.core.platform import parse_platform

A, B, C, X = ("sha256:" + ch * 64 for ch in "abcd")
SIG = COSIGN_ARTIFACT_TYPES[CosignSuffix.SIGNATURE]
SBOM = COSIGN_ARTIFACT_TYPES[CosignSuffix.SBOM]


def _index() -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest,
                    "size": 10,
                    "platform": {"os": "linux", "architecture": arch},
                }
                for digest, arch in ((B, "amd64"), (C, "arm64"))
            ],
        }
    ).encode()


@pytest.mark.parametrize(
    ("desired", "children", "subjects", "note"),
    [
        (None, [B, C], [A, B, C], ""),
        (A, [B, C, B], [A, B, C], ""),
        (X, [C], [C], SUBSET_NOTE),
    ],
)
def test_subject_digests(
    desired: str | None, children: list[str], subjects: list[str], note: str
) -> None:
    assert subject_digests(A, desired, children) == (subjects, note)


def test_image_subjects_of_a_whole_index_and_a_subset() -> None:
    index = parse_manifest(_index())
    assert image_subjects(index, []) == ([index.digest, B, C], "")
    assert image_subjects(index, [parse_platform("linux/arm64")]) == ([C], SUBSET_NOTE)


def test_attachment_tags_of_the_subjects_only_and_filtered() -> None:
    tags = [
        "v1",
        cosign_tag(A, CosignSuffix.SIGNATURE),
        cosign_tag(A, CosignSuffix.SBOM),
        cosign_tag(X, CosignSuffix.SIGNATURE),  # another image's
        referrers_fallback_tag(B),
        "sha256-" + "b" * 64 + ".other",
    ]
    everything = attachments_in(tags, [A, B], AttachmentSettings())
    assert [(a.tag, a.kind) for a in everything] == [
        (cosign_tag(A, CosignSuffix.SBOM), AttachmentKind.COSIGN),
        (cosign_tag(A, CosignSuffix.SIGNATURE), AttachmentKind.COSIGN),
        (referrers_fallback_tag(B), AttachmentKind.REFERRERS),
    ]
    sboms = attachments_in(tags, [A], AttachmentSettings(artifact_types=[SBOM]))
    assert [a.tag for a in sboms] == [cosign_tag(A, CosignSuffix.SBOM)]
    unsigned = attachments_in(tags, [A], AttachmentSettings(signatures=False))
    assert [a.artifact_type for a in unsigned] == [SBOM]


def test_missing_compares_with_what_was_copied() -> None:
    sig = Attachment(cosign_tag(A, CosignSuffix.SIGNATURE), A, AttachmentKind.COSIGN, SIG, B)
    same = {sig.tag: B}
    assert missing_attachments([sig], same) == ()
    assert missing_attachments([sig], {sig.tag: C}) == (sig,)  # re-signed at the source
    assert missing_attachments([sig], {}) == (sig,)


def _desc(digest: str, artifact_type: str) -> Descriptor:
    raw = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 5}
    return Descriptor.from_json({**raw, "artifactType": artifact_type})


def test_merge_keeps_every_entry_once() -> None:
    first = merge_fallback_index(None, [_desc(B, "x/a")])
    merged = merge_fallback_index(first, [_desc(C, "x/b"), _desc(B, "x/a")])
    entries = json.loads(merged.raw)["manifests"]
    assert [(e["digest"], e["artifactType"]) for e in entries] == [(B, "x/a"), (C, "x/b")]
    assert parse_manifest(merged.raw).digest == merged.digest


def test_settings_are_strict() -> None:
    with pytest.raises(ValidationError):
        AttachmentSettings.model_validate({"enable": True})
