"""The Hangar archive index (``index.json`` at the top of a Hangar zip,
version ``v1.2.0``, unchanged from Hangar v1.7 to v1.9): parse, check,
serialize, build and rebuild. Pure: bytes and manifests in, values out.

The document, with Hangar's key names (Go's ``encoding/json`` with
``omitempty`` everywhere, so empty values are left out)::

    {"list": [{"source": "docker.io/library/nginx", "tag": "1.22",
               "archList": ["amd64"], "osList": ["linux"],
               "images": [{"arch", "os", "osVersion", "osFeatures", "variant",
                           "mediaType", "layers", "config", "digest",
                           "annotations"}],
               "hangardIndex": {"mediaType", "digest", "size"}}],
     "version": "v1.2.0", "time": "<RFC3339>",
     "hangardBase": {"name": "OLD.zip", "indexSha256": "<hex>"}}

``hangardIndex`` and ``hangardBase`` are hangard's extensions. Hangar's
``UnmarshalIndex`` is a plain ``json.Unmarshal`` into its structs, which
ignores unknown keys, so Hangar reads archives that carry them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hangard.core import mediatypes as mt
from hangard.core.manifest import ATTESTATION_REF_DIGEST, ATTESTATION_REF_TYPE, Manifest
from hangard.core.platform import Platform
from hangard.core.reference import DEFAULT_TAG, parse_digest, parse_reference, parse_tag
from hangard.errors import ArchiveError, InvalidReferenceError

__all__ = [
    "INDEX_NAME",
    "INDEX_VERSION",
    "OCI_LAYOUT",
    "ArchiveIndex",
    "BaseRef",
    "ImageSpec",
    "IndexRef",
    "ListEntry",
    "check_version",
    "go_json",
    "layout_index",
    "layout_names",
    "parse_index",
    "serialize_index",
    "share_name",
]

INDEX_NAME = "index.json"
INDEX_VERSION = "v1.2.0"
SHARE_DIR = "share/sha256"
EXT_INDEX = "hangardIndex"
EXT_BASE = "hangardBase"
UNKNOWN = "unknown"
#: What every per-platform ``<manifest-hex>/oci-layout`` holds.
OCI_LAYOUT = b'{"imageLayoutVersion": "1.0.0"}'
_SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?")


def share_name(digest: str) -> str:
    """The zip entry a blob lives in: ``share/sha256/<hex>``."""
    return f"{SHARE_DIR}/{digest.partition(':')[2]}"


def layout_names(digest: str) -> tuple[str, str]:
    """The per-platform layout of an image manifest: ``<hex>/index.json``
    and ``<hex>/oci-layout``."""
    hexpart = digest.partition(":")[2]
    return f"{hexpart}/index.json", f"{hexpart}/oci-layout"


def layout_index(manifest: Manifest) -> bytes:
    """``<hex>/index.json``: one descriptor, no ref-name annotation (what
    containers/image writes for an ``oci:DIR`` without an image name)."""
    desc = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": len(manifest.raw)}
    doc = {"schemaVersion": 2, "manifests": [desc]}
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ImageSpec:
    """One manifest of a list entry (Hangar's ``ImageSpec``)."""

    digest: str
    media_type: str = ""
    arch: str = ""
    os: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    variant: str = ""
    layers: tuple[str, ...] = ()
    config: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def attests(self) -> str | None:
        """For a BuildKit attestation manifest (as Hangar's
        ``IsAttestations``): the digest of the image it describes."""
        if self.arch != UNKNOWN or self.os != UNKNOWN:
            return None
        if self.annotations.get(ATTESTATION_REF_TYPE) != "attestation-manifest":
            return None
        return self.annotations.get(ATTESTATION_REF_DIGEST) or None

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.arch, self.variant or None)

    @property
    def blobs(self) -> tuple[str, ...]:
        """The share blobs this manifest needs: itself, config, layers."""
        return (self.digest, *((self.config,) if self.config else ()), *self.layers)

    def to_json(self) -> dict[str, Any]:
        doc = {
            "arch": self.arch,
            "os": self.os,
            "osVersion": self.os_version,
            "osFeatures": list(self.os_features),
            "variant": self.variant,
            "mediaType": self.media_type,
            "layers": list(self.layers),
            "config": self.config,
            "digest": self.digest,
            "annotations": dict(self.annotations),
        }
        return {k: v for k, v in doc.items() if v}


@dataclass(frozen=True)
class IndexRef:
    """hangard's ``hangardIndex``: the original top index or list, kept in
    ``share/`` so a load restores its exact digest."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class BaseRef:
    """hangard's ``hangardBase``: the archive a delta archive needs."""

    name: str
    index_sha256: str


@dataclass(frozen=True)
class ListEntry:
    """One image (a source and tag) in the archive (Hangar's ``Image``)."""

    source: str
    tag: str
    images: tuple[ImageSpec, ...]
    index: IndexRef | None = None

    @property
    def name(self) -> str:
        return f"{self.source}:{self.tag}"

    @property
    def arch_list(self) -> list[str]:
        return sorted({s.arch for s in self.images if s.arch})

    @property
    def os_list(self) -> list[str]:
        return sorted({s.os for s in self.images if s.os})

    @property
    def blobs(self) -> list[str]:
        """Every share blob the entry needs, each once, the index included."""
        found = dict.fromkeys(d for s in self.images for d in s.blobs)
        if self.index is not None:
            found[self.index.digest] = None
        return list(found)

    def spec(self, digest: str) -> ImageSpec | None:
        return next((s for s in self.images if s.digest == digest), None)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "source": self.source,
            "tag": self.tag,
            "archList": self.arch_list,
            "osList": self.os_list,
            "images": [s.to_json() for s in self.images],
        }
        doc = {k: v for k, v in doc.items() if v}
        if self.index is not None:
            doc[EXT_INDEX] = self.index.to_json()
        return doc


@dataclass(frozen=True)
class ArchiveIndex:
    """The whole top-level ``index.json``."""

    entries: tuple[ListEntry, ...] = ()
    version: str = INDEX_VERSION
    time: str = ""
    base: BaseRef | None = None

    def find(self, source: str, tag: str) -> ListEntry | None:
        return next((e for e in self.entries if (e.source, e.tag) == (source, tag)), None)

    def with_entry(self, entry: ListEntry) -> ArchiveIndex:
        """This index with ``entry`` added, replacing one of the same
        source and tag in place."""
        key = (entry.source, entry.tag)
        if self.find(*key) is None:
            return replace(self, entries=(*self.entries, entry))
        kept = tuple(entry if (e.source, e.tag) == key else e for e in self.entries)
        return replace(self, entries=kept)

    @property
    def blobs(self) -> list[str]:
        """Every share blob the archive's entries need, each once."""
        return list(dict.fromkeys(d for e in self.entries for d in e.blobs))


def serialize_index(index: ArchiveIndex, *, time: str) -> bytes:
    """Compact JSON as Go's ``json.Marshal`` writes it (keys in Hangar's
    order, ``<``, ``>``, ``&`` escaped); ``time`` is RFC 3339."""
    doc: dict[str, Any] = {
        "list": [e.to_json() for e in index.entries],
        "version": INDEX_VERSION,
        "time": time,
    }
    if not doc["list"]:
        del doc["list"]
    if index.base is not None:
        doc[EXT_BASE] = {"name": index.base.name, "indexSha256": index.base.index_sha256}
    return go_json(doc, indent=None)


def go_json(doc: object, *, indent: int | None) -> bytes:
    """JSON as Go's ``encoding/json`` writes it: ``<``, ``>``, ``&``, U+2028
    and U+2029 escaped; compact, or indented by ``indent``."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(doc, ensure_ascii=False, indent=indent, separators=separators)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def check_version(version: object, *, where: str) -> None:
    """Hangar's ``CompareIndexVersion``: a version below v1.2.0 is refused."""
    found = _SEMVER.fullmatch(version) if isinstance(version, str) else None
    if found is None:
        raise ArchiveError(f"{where}: index version {version!r} is not a version (v1.2.0 or later)")
    if tuple(int(g) for g in found.groups()) < (1, 2, 0):
        raise ArchiveError(
            f"{where}: index version {version} is older than {INDEX_VERSION}, which hangard "
            "(like Hangar) does not read; save the images again with a current Hangar or hangard"
        )


def parse_index(raw: bytes, *, where: str) -> ArchiveIndex:
    """The index in ``raw`` (``where`` names it in errors, e.g. ``FILE.zip``),
    every digest checked, the version ≥ v1.2.0."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ArchiveError(f"{where}: index.json is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ArchiveError(f"{where}: index.json is not a JSON object")
    check_version(doc.get("version"), where=where)
    entries = doc.get("list")
    entries = [] if entries is None else entries
    if not isinstance(entries, list):
        raise ArchiveError(f"{where}: index.json 'list' is not a list")
    parsed = tuple(_entry(e, f"{where}: index.json list[{i}]") for i, e in enumerate(entries))
    time = doc.get("time")
    return ArchiveIndex(
        entries=parsed,
        version=str(doc["version"]),
        time=time if isinstance(time, str) else "",
        base=_base(doc.get(EXT_BASE), where),
    )


def _entry(doc: object, where: str) -> ListEntry:
    if not isinstance(doc, dict):
        raise ArchiveError(f"{where} is not an object")
    source, tag = doc.get("source"), doc.get("tag", "")
    if not isinstance(source, str) or not source or not isinstance(tag, str):
        raise ArchiveError(f"{where} has no source (and tag) string")
    tag = tag or DEFAULT_TAG  # as Hangar defaults it
    _check_name(source, tag, where)
    where = f"{where} ({source}:{tag})"
    specs = doc.get("images")
    specs = [] if specs is None else specs
    if not isinstance(specs, list):
        raise ArchiveError(f"{where}: 'images' is not a list")
    images = tuple(_spec(s, f"{where} images[{i}]") for i, s in enumerate(specs))
    ext = doc.get(EXT_INDEX)
    index = None
    if ext is not None:
        if not isinstance(ext, dict) or not isinstance(ext.get("size"), int):
            raise ArchiveError(f"{where}: {EXT_INDEX} needs mediaType, digest and size")
        index = IndexRef(
            media_type=_text(ext, "mediaType", where) or mt.OCI_INDEX,
            digest=_digest(ext.get("digest"), f"{where} {EXT_INDEX}"),
            size=ext["size"],
        )
    return ListEntry(source=source, tag=tag, images=images, index=index)


def _check_name(source: str, tag: str, where: str) -> None:
    """The source is an image name and the tag a tag: both reach registry
    paths when the image is loaded, so nothing else may pass."""
    try:
        parse_tag(tag)
        ref = parse_reference(source)
    except InvalidReferenceError as exc:
        raise ArchiveError(f"{where}: {exc}") from None
    if ref.tag or ref.digest:
        raise ArchiveError(f"{where}: source {source!r} must be a name without tag or digest")


def _spec(doc: object, where: str) -> ImageSpec:
    if not isinstance(doc, dict):
        raise ArchiveError(f"{where} is not an object")
    layers = doc.get("layers") or []
    features = doc.get("osFeatures") or []
    annotations = doc.get("annotations") or {}
    if not isinstance(layers, list) or not isinstance(features, list):
        raise ArchiveError(f"{where}: 'layers' and 'osFeatures' must be lists")
    if not isinstance(annotations, dict) or not all(
        isinstance(v, str) for v in annotations.values()
    ):
        raise ArchiveError(f"{where}: 'annotations' must map strings to strings")
    config = doc.get("config") or ""
    return ImageSpec(
        digest=_digest(doc.get("digest"), f"{where} digest"),
        media_type=_text(doc, "mediaType", where),
        arch=_text(doc, "arch", where),
        os=_text(doc, "os", where),
        os_version=_text(doc, "osVersion", where),
        os_features=tuple(str(f) for f in features),
        variant=_text(doc, "variant", where),
        layers=tuple(_digest(d, f"{where} layers[{i}]") for i, d in enumerate(layers)),
        config=_digest(config, f"{where} config") if config else "",
        annotations=dict(annotations),
    )


def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key) or ""
    if not isinstance(value, str):
        raise ArchiveError(f"{where}: {key!r} is not a string")
    return value


def _digest(value: object, where: str) -> str:
    """A sha256 digest: it names a zip entry, so nothing else may pass."""

    def fail(text: str, why: str) -> ArchiveError:
        return ArchiveError(f"{where}: invalid digest {text!r}: {why}")

    if not isinstance(value, str):
        raise fail(repr(value), "not a string")
    digest = parse_digest(value, fail=fail)
    if not digest.startswith("sha256:"):
        raise fail(digest, "Hangar archives hold sha256 blobs only")
    return digest


def _base(doc: object, where: str) -> BaseRef | None:
    if doc is None:
        return None
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(k), str) for k in ("name", "indexSha256")
    ):
        raise ArchiveError(f"{where}: {EXT_BASE} needs name and indexSha256 strings")
    return BaseRef(name=doc["name"], index_sha256=doc["indexSha256"])
