"""What ``hangard inspect -o json`` prints: skopeo's ``inspect`` fields built
from a manifest and its config blob. Pure: values in, a JSON-ready dict out.

The fields and their spelling follow ``skopeo inspect`` (containers/image's
``types.ImageInspectInfo``): ``Name``, ``Digest``, ``RepoTags``, ``Created``,
``DockerVersion``, ``Labels``, ``Architecture``, ``Os``, ``Variant`` (only
when set), ``Layers``, ``LayersData`` (``MIMEType``, ``Digest``, ``Size``,
``Annotations``) and ``Env``. For an index, ``Manifests`` lists each entry's
digest, media type, size and platform; skopeo has no such field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hangard.core.manifest import Descriptor, Manifest
from hangard.core.platform import Platform

__all__ = ["image_fields", "index_fields", "pick_platform", "wanted_platform"]


def _config_doc(config: bytes | None) -> Mapping[str, Any]:
    if config is None:
        return {}
    try:
        doc = json.loads(config)
    except (ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _layer(desc: Descriptor) -> dict[str, Any]:
    return {
        "MIMEType": desc.media_type,
        "Digest": desc.digest,
        "Size": desc.size,
        "Annotations": dict(desc.annotations) or None,
    }


def image_fields(
    name: str,
    digest: str,
    manifest: Manifest,
    config: bytes | None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """skopeo's fields for one image: ``digest`` is the one the reference
    resolved to (an index's, when the image was picked from one, as skopeo
    does); ``config`` is the config blob (``None``: none, e.g. schema1)."""
    doc = _config_doc(config)
    inner = doc.get("config")
    inner = inner if isinstance(inner, dict) else {}
    fields: dict[str, Any] = {
        "Name": name,
        "Digest": digest,
        "RepoTags": list(tags),
        "Created": doc.get("created"),
        "DockerVersion": doc.get("docker_version", ""),
        "Labels": inner.get("Labels") or None,
        "Architecture": doc.get("architecture", ""),
        "Os": doc.get("os", ""),
        "Layers": [layer.digest for layer in manifest.layers],
        "LayersData": [_layer(layer) for layer in manifest.layers],
        "Env": inner.get("Env") or None,
    }
    if doc.get("variant"):
        fields["Variant"] = doc["variant"]
    return fields


def _entry(desc: Descriptor) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Digest": desc.digest,
        "MediaType": desc.media_type,
        "Size": desc.size,
        "Platform": dict(desc.raw.get("platform") or {}) or None,
    }
    if desc.annotations:
        entry["Annotations"] = dict(desc.annotations)
    return entry


def index_fields(
    name: str, index: Manifest, image: Mapping[str, Any] | None, tags: Sequence[str] = ()
) -> dict[str, Any]:
    """An index's fields: the chosen platform's :func:`image_fields` (when
    one was chosen) and ``Manifests``, one entry per child."""
    base: dict[str, Any] = (
        dict(image) if image is not None else {"Name": name, "Digest": index.digest}
    )
    base["Digest"] = index.digest
    base["RepoTags"] = list(tags)
    base["Manifests"] = [_entry(desc) for desc in index.children]
    return base


def wanted_platform(
    host: Platform, os: str | None, arch: str | None, variant: str | None
) -> Platform:
    """skopeo's ``--override-os/-arch/-variant`` over the ``host`` platform."""
    return Platform(
        os or host.os,
        arch or host.architecture,
        variant if variant is not None else (None if arch else host.variant),
    )


def pick_platform(index: Manifest, wanted: Platform) -> Descriptor | None:
    """The first child of ``index`` that ``wanted`` matches (attestations,
    ``unknown/unknown``, never match)."""
    for desc in index.children:
        if desc.platform and not desc.platform.is_unknown and wanted.matches(desc.platform):
            return desc
    return None
