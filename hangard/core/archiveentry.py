"""Building Hangar archive list entries from manifests, and rebuilding the
index Hangar's load pushes for a multi-platform entry. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hangard.core import mediatypes as mt
from hangard.core.archive import ImageSpec, IndexRef, ListEntry, go_json
from hangard.core.manifest import Manifest
from hangard.errors import ArchiveError

__all__ = ["build_entry", "rebuild_index"]


def build_entry(
    source: str,
    tag: str,
    top: Manifest,
    manifests: Mapping[str, Manifest],
    configs: Mapping[str, bytes],
) -> ListEntry:
    """The list entry for ``top`` (an image manifest, or an index whose
    children are in ``manifests`` by digest), with the platforms its
    configs (raw, by digest) declare, as Hangar's save records them."""
    if not top.is_index:
        return ListEntry(source, tag, (_image_spec(top, configs, None),))
    specs = []
    for desc in top.children:
        child = manifests.get(desc.digest)
        if child is None:
            raise ArchiveError(f"{source}:{tag}: manifest {desc.digest} is not in the archive")
        if child.is_index:
            raise ArchiveError(
                f"{source}:{tag}: an index inside an index ({desc.digest}) "
                "cannot be recorded in a Hangar archive"
            )
        specs.append(_image_spec(child, configs, desc.raw))
    index = IndexRef(top.media_type, top.digest, len(top.raw))
    return ListEntry(source, tag, tuple(specs), index)


def _image_spec(
    manifest: Manifest, configs: Mapping[str, bytes], desc: Mapping[str, Any] | None
) -> ImageSpec:
    """Platform from the index descriptor (when in an index), the rest
    filled from the config, as Hangar's save does."""
    config = manifest.config
    from_config = _config_doc(configs.get(config.digest, b"") if config else b"")
    platform = (desc or {}).get("platform") or {}
    if not isinstance(platform, Mapping):
        platform = {}

    def pick(index_key: str, config_key: str) -> Any:
        return platform.get(index_key) or from_config.get(config_key) or ""

    features = pick("os.features", "os.features") or []
    annotations = (desc or {}).get("annotations") or {}
    return ImageSpec(
        digest=manifest.digest,
        media_type=manifest.media_type,
        arch=str(pick("architecture", "architecture")),
        os=str(pick("os", "os")),
        os_version=str(pick("os.version", "os.version")),
        os_features=tuple(str(f) for f in features) if isinstance(features, list) else (),
        variant=str(pick("variant", "variant")),
        layers=tuple(d.digest for d in manifest.layers if not d.raw.get("urls")),
        config=config.digest if config else "",
        annotations={str(k): str(v) for k, v in annotations.items()},
    )


def _config_doc(raw: bytes) -> Mapping[str, Any]:
    try:
        doc = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def rebuild_index(entry: ListEntry, sizes: Mapping[str, int]) -> bytes:
    """An OCI index for a Hangar-made multi-platform entry, as Hangar's load
    builds one (its manifest ``Builder``): one descriptor per spec, the
    platform from the spec, a later spec replacing an earlier one of the
    same platform, attestations of absent images dropped, indented by two
    spaces. ``sizes``: each manifest's length, by digest. The digest
    differs from the index the images came from."""
    kept: list[ImageSpec] = []
    for spec in entry.images:
        kept = [k for k in kept if not _same_slot(k, spec)]
        kept.append(spec)
    images = {s.digest for s in kept if s.attests is None}
    kept = [s for s in kept if s.attests is None or s.attests in images]
    manifests = [_descriptor(s, sizes[s.digest]) for s in kept]
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
    return go_json(doc, indent=2)


def _same_slot(old: ImageSpec, new: ImageSpec) -> bool:
    if old.attests is not None or new.attests is not None:
        return old.attests is not None and old.attests == new.attests
    same_platform = (old.arch, old.os, old.variant, old.os_version, old.os_features) == (
        new.arch,
        new.os,
        new.variant,
        new.os_version,
        new.os_features,
    )
    return same_platform or old.digest == new.digest


def _descriptor(spec: ImageSpec, size: int) -> dict[str, Any]:
    platform: dict[str, Any] = {"architecture": spec.arch, "os": spec.os}
    if spec.os_version:
        platform["os.version"] = spec.os_version
    if spec.os_features:
        platform["os.features"] = list(spec.os_features)
    if spec.variant:
        platform["variant"] = spec.variant
    desc: dict[str, Any] = {"mediaType": spec.media_type, "digest": spec.digest, "size": size}
    if spec.annotations:
        desc["annotations"] = dict(spec.annotations)
    desc["platform"] = platform
    return desc
