"""Attachments: the signatures, attestations and SBOMs that travel with an
image. Pure: which ones an item has, which are missing on a target, and how a
target's referrers fallback index is merged.

Design:

* **Where they are.** For each *subject* digest (the image's own digest when
  the target gets it unchanged, and each copied child manifest's digest),
  cosign's tags ``sha256-<hex>.sig``/``.att``/``.sbom`` and the OCI 1.1
  referrers fallback tag ``sha256-<hex>`` (an index of manifests whose
  ``subject`` is the digest). A platform subset is a new index with a new
  digest: nothing at the source refers to it, so only its children's
  attachments travel (:func:`subject_digests`); children the filter drops
  lose theirs.
* **Finding them cheaply.** The source repository's tag list (one ``GET``,
  shared by every tag and target of the repository, and already made for
  pattern entries) says which of those tags exist; a tag new there costs one
  ``HEAD`` on the source, shared by the targets, and the tags already copied
  are re-checked within a budget of one ``HEAD`` per image-target per cycle
  (:mod:`hangard.core.rechecks`). What was copied to a target is remembered
  (source tag → source digest), so the steady state sends nothing to the
  targets for attachments.
* **Filtering.** An attachment's type is cosign's artifact type for its tag
  suffix, or a referrer's ``artifactType``; ``artifact_types`` (when given)
  keeps only those; ``signatures: false`` (``--remove-signatures``) drops
  signatures.
* **Writing referrers.** A registry without the referrers API (distribution
  2.8) answers a push of a manifest with ``subject`` without ``OCI-Subject``:
  the target's fallback index is then merged (:func:`merge_fallback_index`),
  keeping every entry it had.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field

from hangard.core import mediatypes as mt
from hangard.core.cosign import CosignSuffix, cosign_tag, referrers_fallback_tag
from hangard.core.manifest import Descriptor, Manifest, digest_of, select_platforms
from hangard.core.platform import Platform
from hangard.core.registry_settings import StrictModel

__all__ = [
    "COSIGN_ARTIFACT_TYPES",
    "SIGNATURE_ARTIFACT_TYPES",
    "SUBSET_NOTE",
    "Attachment",
    "AttachmentKind",
    "AttachmentSettings",
    "AttachmentState",
    "attachment_subject",
    "attachments_in",
    "fallback_subject",
    "image_subjects",
    "is_attachment_tag",
    "merge_fallback_index",
    "missing_attachments",
    "referrer_artifact_type",
    "referrer_wanted",
    "subject_digests",
    "tags_of",
]

#: The artifact types cosign gives what it attaches (as OCI 1.1 referrers
#: it writes them as ``artifactType``); hangard gives them to cosign's tags.
COSIGN_ARTIFACT_TYPES = {
    CosignSuffix.SIGNATURE: "application/vnd.dev.cosign.artifact.sig.v1+json",
    CosignSuffix.ATTESTATION: "application/vnd.dev.cosign.artifact.att.v1+json",
    CosignSuffix.SBOM: "application/vnd.dev.cosign.artifact.sbom.v1+json",
}

#: What ``--remove-signatures`` leaves behind: cosign signatures, tagged or
#: as referrers, and sigstore bundles (cosign v3 signs into those).
SIGNATURE_ARTIFACT_TYPES = frozenset(
    {
        COSIGN_ARTIFACT_TYPES[CosignSuffix.SIGNATURE],
        "application/vnd.dev.sigstore.bundle.v0.3+json",
    }
)

SUBSET_NOTE = "the subset index has a new digest: the index's own attachments are not copied"

_ATTACHED_TAG = re.compile(r"^sha256-([0-9a-f]{64})(?:\.(sig|att|sbom))?$")


class AttachmentSettings(StrictModel):
    """``attachments:`` per entry or in ``defaults``."""

    enabled: bool = True
    artifact_types: list[str] = Field(default_factory=list)
    """Copy only attachments of these artifact types (empty: all)."""
    signatures: bool = True
    """``false``: leave signatures behind (``--remove-signatures``)."""

    def wants(self, artifact_type: str) -> bool:
        if not self.signatures and artifact_type in SIGNATURE_ARTIFACT_TYPES:
            return False
        return not self.artifact_types or artifact_type in self.artifact_types


class AttachmentKind(StrEnum):
    COSIGN = "cosign"
    """A cosign tag (``.sig``, ``.att``, ``.sbom``): copied under its tag."""
    REFERRERS = "referrers"
    """A referrers fallback index: its entries are copied by digest."""
    REFERRER = "referrer"
    """One manifest the source's referrers API lists: copied by digest."""


@dataclass(frozen=True, order=True)
class Attachment:
    """One place at the source where something attached to ``subject`` lives."""

    tag: str
    """The source tag; empty for a :attr:`AttachmentKind.REFERRER`."""
    subject: str
    kind: AttachmentKind
    artifact_type: str = ""
    """Cosign's artifact type for a cosign tag; empty for a fallback index
    (its entries carry their own)."""
    digest: str = ""
    """The source's digest of the tag, once looked up."""

    @property
    def key(self) -> str:
        """What names it in the record of what was copied."""
        return self.tag or self.digest

    def describe(self) -> str:
        return self.tag or f"referrer {self.digest} of {self.subject}"


@dataclass(frozen=True)
class AttachmentState:
    """An item's attachments as observed: what the source has (wanted by the
    settings) and how many of them the target lacks."""

    found: tuple[Attachment, ...] = ()
    missing: tuple[Attachment, ...] = ()
    """Those of :attr:`found` the target lacks (or holds older)."""
    note: str = ""
    """What the plan should say besides (e.g. a subset's own are not copied)."""


def subject_digests(
    source_digest: str, desired_digest: str | None, children: Iterable[str]
) -> tuple[list[str], str]:
    """The digests whose attachments travel, and a note for the plan.

    ``desired_digest`` is what the target gets when it is not the source
    digest (a platform subset); ``children`` the child manifests copied.
    """
    kept = list(dict.fromkeys(children))
    if desired_digest is None or desired_digest == source_digest:
        return [source_digest, *(c for c in kept if c != source_digest)], ""
    return [c for c in kept if c != source_digest], SUBSET_NOTE


def image_subjects(manifest: Manifest, platforms: Sequence[Platform]) -> tuple[list[str], str]:
    """:func:`subject_digests` of a source manifest copied with ``platforms``."""
    if not manifest.is_index:
        return [manifest.digest], ""
    selection = select_platforms(manifest, platforms)
    top = selection.manifest.digest if selection.manifest else None
    return subject_digests(manifest.digest, top, (d.digest for d in selection.selected))


def attachments_in(
    tags: Iterable[str], subjects: Sequence[str], settings: AttachmentSettings
) -> tuple[Attachment, ...]:
    """The attachment tags among a repository's ``tags`` for ``subjects``,
    filtered by ``settings`` (a fallback index is filtered entry by entry
    when copied)."""
    wanted = {s.partition(":")[2]: s for s in subjects if s.startswith("sha256:")}
    found = []
    for tag in tags:
        match = _ATTACHED_TAG.match(tag)
        if match is None or match.group(1) not in wanted:
            continue
        subject, suffix = wanted[match.group(1)], match.group(2)
        if suffix is None:
            found.append(Attachment(tag, subject, AttachmentKind.REFERRERS))
            continue
        artifact_type = COSIGN_ARTIFACT_TYPES[CosignSuffix(suffix)]
        if settings.wants(artifact_type):
            found.append(Attachment(tag, subject, AttachmentKind.COSIGN, artifact_type))
    return tuple(sorted(found))


def missing_attachments(
    found: Iterable[Attachment], copied: dict[str, str]
) -> tuple[Attachment, ...]:
    """Those of ``found`` whose source digest differs from what was last
    copied under their tag (``copied``: tag → source digest)."""
    return tuple(a for a in found if not a.digest or copied.get(a.key) != a.digest)


def referrer_artifact_type(desc: Descriptor) -> str:
    """A referrer's type: its ``artifactType``, else its media type."""
    value = desc.raw.get("artifactType")
    return value if isinstance(value, str) and value else desc.media_type


def referrer_wanted(desc: Descriptor, settings: AttachmentSettings) -> bool:
    return settings.wants(referrer_artifact_type(desc))


def merge_fallback_index(existing: Manifest | None, new: Iterable[Descriptor]) -> Manifest:
    """The fallback index listing what ``existing`` lists plus ``new``, each
    digest once (an entry already there keeps its place and text)."""
    entries: list[dict[str, object]] = []
    seen: set[str] = set()
    olds = existing.children if existing is not None and existing.is_index else []
    for desc in [*olds, *new]:
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        entries.append(dict(desc.raw) or _descriptor_json(desc))
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": entries,
    }
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return Manifest(raw=raw, media_type=mt.OCI_INDEX, digest=digest_of(raw), doc=doc)


def _descriptor_json(desc: Descriptor) -> dict[str, object]:
    out: dict[str, object] = {"mediaType": desc.media_type, "digest": desc.digest}
    out["size"] = desc.size
    if desc.annotations:
        out["annotations"] = dict(desc.annotations)
    return out


def is_attachment_tag(tag: str) -> bool:
    """Whether ``tag`` is one attachments live under (``sha256-<hex>``,
    with ``.sig``, ``.att`` or ``.sbom`` or without)."""
    return _ATTACHED_TAG.match(tag) is not None


def attachment_subject(tag: str) -> str | None:
    """The digest an attachment tag (``sha256-<hex>[.sig|.att|.sbom]``) is
    attached to; ``None`` for any other tag."""
    match = _ATTACHED_TAG.match(tag)
    return f"sha256:{match.group(1)}" if match is not None else None


def fallback_subject(tag: str) -> str | None:
    """The subject digest a referrers fallback tag (``sha256-<hex>``)
    names; ``None`` for any other tag (a cosign tag included)."""
    match = _ATTACHED_TAG.match(tag)
    if match is None or match.group(2) is not None:
        return None
    return f"sha256:{match.group(1)}"


def tags_of(subject: str) -> list[str]:
    """Every tag an attachment of ``subject`` may have."""
    return [referrers_fallback_tag(subject), *(cosign_tag(subject, s) for s in CosignSuffix)]
