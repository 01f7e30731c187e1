"""Manifest parsing and platform selection. Pure: bytes in, values out.

A :class:`Manifest` keeps the exact bytes it was parsed from; those bytes are
what hangard pushes, so digests never change unless hangard deliberately
writes a new document (a platform-filtered index, or a schema1 conversion).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hangard.core import mediatypes as mt
from hangard.core.platform import Platform
from hangard.core.reference import parse_digest
from hangard.errors import DigestMismatchError, InvalidManifestError, UnsupportedMediaTypeError

__all__ = [
    "ATTESTATION_REF_DIGEST",
    "ATTESTATION_REF_TYPE",
    "Descriptor",
    "IndexSelection",
    "Manifest",
    "check_digest",
    "digest_of",
    "parse_manifest",
    "schema1_payload",
    "select_platforms",
]

ATTESTATION_REF_TYPE = "vnd.docker.reference.type"
ATTESTATION_REF_DIGEST = "vnd.docker.reference.digest"


class _InvalidDigest(ValueError):
    """A descriptor's digest that is not ``sha256:<64 hex>`` or ``sha512:<128 hex>``."""

    def __init__(self, text: object, why: str) -> None:
        super().__init__(why)
        self.text = text
        self.why = why


def valid_digest(value: object) -> str:
    """``value`` if it is a digest hangard accepts (OCI's registered
    algorithms only: ``sha256`` or ``sha512``, lowercase hex of the right
    length); raises ``ValueError`` otherwise. A digest from a manifest or a
    registry header goes into request paths and into :mod:`hashlib`, so
    nothing else may pass."""
    if not isinstance(value, str):
        raise _InvalidDigest(value, "a digest must be a string")
    return parse_digest(value, fail=_InvalidDigest)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def check_digest(raw: bytes, expected: str | None, *, what: str) -> None:
    """``raw`` hashes to ``expected`` (a valid digest; ``None``: nothing to
    check), or :class:`~hangard.errors.DigestMismatchError`."""
    if expected is None:
        return
    actual = digest_of(raw, valid_digest(expected).partition(":")[0])
    if actual != expected:
        raise DigestMismatchError(expected, actual, what=what)


def schema1_payload(raw: bytes) -> bytes:
    """The signed payload of a JWS-signed schema1 manifest: what registries
    digest. The first signature's protected header says how long the payload
    is and which tail (``formatTail``) closes it; the signatures are not part
    of it. Unsigned or malformed input is returned unchanged."""
    try:
        doc = json.loads(raw)
        protected = doc["signatures"][0]["protected"]
        header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
        length = int(header["formatLength"])
        tail = header["formatTail"]
        tail_bytes = base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return raw
    if not 0 < length <= len(raw):
        return raw
    return raw[:length] + tail_bytes


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest points at."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], default_type: str = "") -> Descriptor:
        platform = doc.get("platform")
        digest = valid_digest(doc["digest"])
        return cls(
            media_type=str(doc.get("mediaType", default_type)),
            digest=digest,
            size=int(doc.get("size", -1)),
            platform=Platform.from_json(platform) if isinstance(platform, Mapping) else None,
            annotations=dict(doc.get("annotations") or {}),
            raw=doc,
        )

    @property
    def attests(self) -> str | None:
        """For an attestation manifest, the digest of the image it describes."""
        if self.annotations.get(ATTESTATION_REF_TYPE) == "attestation-manifest":
            return self.annotations.get(ATTESTATION_REF_DIGEST)
        return None


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest with its exact bytes."""

    raw: bytes
    media_type: str
    digest: str
    doc: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    @property
    def is_schema1(self) -> bool:
        return self.media_type in mt.SCHEMA1_TYPES

    @property
    def children(self) -> list[Descriptor]:
        """The manifests an index points at (empty for image manifests)."""
        if not self.is_index:
            return []
        return [Descriptor.from_json(d) for d in self.doc.get("manifests") or []]

    @property
    def config(self) -> Descriptor | None:
        cfg = self.doc.get("config")
        return Descriptor.from_json(cfg) if isinstance(cfg, Mapping) and not self.is_index else None

    @property
    def layers(self) -> list[Descriptor]:
        if self.is_schema1:
            # fsLayers are listed top-most first; blobSum only, sizes unknown.
            return [
                Descriptor(mt.DOCKER_LAYER_GZIP, valid_digest(layer["blobSum"]), -1)
                for layer in reversed(self.doc.get("fsLayers") or [])
            ]
        if self.is_index:
            return []
        return [Descriptor.from_json(d) for d in self.doc.get("layers") or []]

    @property
    def subject(self) -> Descriptor | None:
        """The manifest this one refers to (OCI 1.1 ``subject``), if any."""
        subject = self.doc.get("subject")
        return Descriptor.from_json(subject) if isinstance(subject, Mapping) else None

    @property
    def blobs(self) -> list[Descriptor]:
        """Config then layers, each digest once, in manifest order."""
        seen: set[str] = set()
        out: list[Descriptor] = []
        for desc in ([self.config] if self.config else []) + self.layers:
            if desc.digest not in seen:
                seen.add(desc.digest)
                out.append(desc)
        return out

    @property
    def total_size(self) -> int:
        return sum(max(d.size, 0) for d in self.blobs)


def _detect_media_type(doc: Mapping[str, Any], hint: str | None) -> str:
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1_SIGNED if "signatures" in doc else mt.DOCKER_SCHEMA1
    hint = (hint or "").split(";")[0].strip()
    if hint and hint not in ("application/json", "text/plain"):
        return hint
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc and "layers" in doc:
        return mt.OCI_MANIFEST
    return hint or "application/octet-stream"


def parse_manifest(
    raw: bytes,
    *,
    media_type: str | None = None,
    expected_digest: str | None = None,
    image: str = "",
) -> Manifest:
    """Parse manifest bytes; check the digest if one is expected.

    ``media_type`` is the Content-Type the registry sent; the document's own
    ``mediaType`` wins when present. Unsupported types raise
    :class:`UnsupportedMediaTypeError`.
    """
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    except RecursionError:
        # json.loads recurses once per nesting level; a hostile document can
        # be nested far deeper than any manifest needs
        raise InvalidManifestError(
            f"manifest of {image or 'image'} is JSON nested too deeply to be a manifest"
        ) from None
    # a signed schema1 manifest is digested over its payload, as registries do
    signed = isinstance(doc, dict) and doc.get("schemaVersion") == 1 and "signatures" in doc
    content = schema1_payload(raw) if signed else raw
    digest = digest_of(content)
    if expected_digest:
        try:
            valid_digest(expected_digest)
        except _InvalidDigest as exc:
            raise _invalid_digest(exc, image) from None
        algorithm = expected_digest.partition(":")[0]
        actual = digest if algorithm == "sha256" else digest_of(content, algorithm)
        if expected_digest != actual:
            raise DigestMismatchError(expected_digest, actual, what=f"manifest {image}".strip())
    if not isinstance(doc, dict):
        raise UnsupportedMediaTypeError(
            media_type or "non-JSON document", image, mt.SUPPORTED_MANIFEST_TYPES
        )
    kind = _detect_media_type(doc, media_type)
    if kind not in mt.SUPPORTED_MANIFEST_TYPES:
        raise UnsupportedMediaTypeError(kind, image, mt.SUPPORTED_MANIFEST_TYPES)
    manifest = Manifest(raw=raw, media_type=kind, digest=digest, doc=doc)
    try:  # touch every descriptor now, so a malformed one fails here, typed
        manifest.children, manifest.config, manifest.layers, manifest.subject  # noqa: B018
    except _InvalidDigest as exc:
        raise _invalid_digest(exc, image) from None
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidManifestError(
            f"malformed {kind} manifest for {image or 'image'}: {exc.__class__.__name__}: {exc}"
        ) from exc
    return manifest


def _invalid_digest(exc: _InvalidDigest, image: str) -> InvalidManifestError:
    return InvalidManifestError(
        f"invalid digest {exc.text!r} in manifest of {image or 'image'}: {exc.why}"
    )


@dataclass(frozen=True)
class IndexSelection:
    """The result of applying a platform filter to an index."""

    selected: tuple[Descriptor, ...]
    all_selected: bool
    manifest: Manifest | None
    """The manifest to push: the original when every entry was selected, a
    new deterministic index for a subset, ``None`` when nothing matched."""

    @property
    def platform_digests(self) -> dict[str, str]:
        """``{platform: digest}`` of the selected image entries (no attestations)."""
        return {
            str(d.platform): d.digest
            for d in self.selected
            if d.platform is not None and not d.platform.is_unknown
        }


def select_platforms(index: Manifest, wanted: Sequence[Platform] | None) -> IndexSelection:
    """Keep the index entries matching ``wanted`` (``None``/empty: all).

    Attestation manifests are kept exactly when the image they describe is.
    A subset is written as a new index with the original key order, media
    type and annotations, serialised compactly, so the same input always gives
    the same bytes and digest.
    """
    children = index.children
    if not wanted:
        return IndexSelection(tuple(children), True, index)

    def is_wanted(desc: Descriptor) -> bool:
        plat = desc.platform
        return plat is not None and not plat.is_unknown and any(w.matches(plat) for w in wanted)

    kept_images = {d.digest for d in children if is_wanted(d)}
    selected = tuple(
        d for d in children if d.digest in kept_images or (d.attests or "") in kept_images
    )
    if not kept_images:
        return IndexSelection((), False, None)
    if len(selected) == len(children):
        return IndexSelection(selected, True, index)
    doc = dict(index.doc)
    doc["manifests"] = [dict(d.raw) for d in selected]
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return IndexSelection(
        selected,
        False,
        Manifest(raw=raw, media_type=index.media_type, digest=digest_of(raw), doc=doc),
    )
