"""Convert a Docker schema1 manifest to schema2. Pure: values in, bytes out.

Schema1 keeps the image config as a stack of ``history[].v1Compatibility``
JSON strings, one per ``fsLayers`` entry, both listed top-most first. Schema2
wants a separate config blob whose ``rootfs.diff_ids`` are the sha256 of each
*uncompressed* layer, which only the layer bytes can tell; the caller supplies
them as :class:`LayerInfo`, keyed by blob digest, for every digest that
:func:`schema1_layers` returns.

The conversion follows Docker's ``pull_v2`` and containers/image:

* Consecutive history entries with the same v1 ``id`` are one layer; the
  duplicates are dropped (a non-consecutive repeat is an error).
* A layer is *empty* when its v1Compatibility says ``"throwaway": true`` or its
  blob is the well-known gzip of an empty tar (:data:`EMPTY_GZIP_LAYER`).
  Empty layers get ``empty_layer: true`` in the history and no entry in
  ``rootfs`` or the manifest's ``layers``.
* The config is the top-most v1Compatibility minus its v1-only keys
  (:data:`DROPPED_KEYS`), plus ``rootfs`` and ``history`` bottom-up.

Both documents are serialised compactly with sorted config keys, so the same
input always gives the same bytes and digests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hangard.core import mediatypes as mt
from hangard.core.manifest import Manifest, digest_of
from hangard.errors import Schema1ConversionError

__all__ = [
    "DROPPED_KEYS",
    "EMPTY_GZIP_LAYER",
    "Converted",
    "LayerInfo",
    "convert_schema1",
    "schema1_layers",
]

#: sha256 of the 32-byte gzip of an empty tar, which Docker wrote for every
#: instruction that did not change the filesystem.
EMPTY_GZIP_LAYER = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"

#: v1Compatibility keys that describe the v1 layer chain, not the image.
DROPPED_KEYS = frozenset({"id", "parent", "parent_id", "layer_id", "throwaway", "Size"})

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class LayerInfo:
    """What schema2 needs to know about a layer blob that schema1 leaves out."""

    diff_id: str
    """``sha256:…`` of the uncompressed layer."""
    size: int
    """Size of the compressed blob in bytes."""


@dataclass(frozen=True)
class Converted:
    """A schema2 image made from a schema1 manifest."""

    config: bytes
    config_digest: str
    manifest: bytes
    manifest_digest: str

    @property
    def media_type(self) -> str:
        return mt.DOCKER_MANIFEST


@dataclass(frozen=True)
class _Layer:
    blob: str
    compat: Mapping[str, Any]
    raw_compat: str

    @property
    def empty(self) -> bool:
        return self.compat.get("throwaway") is True or self.blob == EMPTY_GZIP_LAYER


def _fail(why: str) -> Schema1ConversionError:
    return Schema1ConversionError(f"cannot convert schema1 manifest: {why}")


def _layers_bottom_up(manifest: Manifest) -> list[_Layer]:
    """Validate the schema1 document and pair each blob with its history."""
    if not manifest.is_schema1:
        raise ValueError(f"not a schema1 manifest: {manifest.media_type}")
    doc = manifest.doc
    if doc.get("schemaVersion") != 1:
        raise _fail(f"schemaVersion is {doc.get('schemaVersion')!r}, expected 1")
    fs_layers = doc.get("fsLayers")
    history = doc.get("history")
    if not isinstance(fs_layers, list) or not isinstance(history, list):
        raise _fail("fsLayers and history must both be lists")
    if not fs_layers:
        raise _fail("no fsLayers")
    if len(fs_layers) != len(history):
        raise _fail(f"{len(fs_layers)} fsLayers but {len(history)} history entries")

    top_first: list[_Layer] = []
    for i, (fs, hist) in enumerate(zip(fs_layers, history, strict=True)):
        blob = fs.get("blobSum") if isinstance(fs, Mapping) else None
        if not isinstance(blob, str) or not _SHA256.fullmatch(blob):
            raise _fail(f"fsLayers[{i}].blobSum is not a sha256 digest")
        raw = hist.get("v1Compatibility") if isinstance(hist, Mapping) else None
        if not isinstance(raw, str):
            raise _fail(f"history[{i}].v1Compatibility is not a string")
        try:
            compat = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise _fail(f"history[{i}].v1Compatibility is not valid JSON: {exc}") from None
        if not isinstance(compat, dict):
            raise _fail(f"history[{i}].v1Compatibility is not a JSON object")
        top_first.append(_Layer(blob, compat, raw))
    return list(reversed(_drop_repeated_ids(top_first)))


def _drop_repeated_ids(top_first: Sequence[_Layer]) -> list[_Layer]:
    """Collapse consecutive entries with the same v1 id, as Docker does."""
    ids = [layer.compat.get("id") for layer in top_first]
    seen: set[str] = set()
    previous: object = None
    for i, v1_id in enumerate(ids):
        if not isinstance(v1_id, str) or not v1_id:
            # Without ids there is no chain to repair; keep every entry.
            return list(top_first)
        if v1_id != previous and v1_id in seen:
            raise _fail(f"v1 id {v1_id} appears more than once (history[{i}])")
        seen.add(v1_id)
        previous = v1_id
    # Of a run of equal ids keep the bottom-most (last listed) entry.
    return [layer for i, layer in enumerate(top_first) if i + 1 >= len(ids) or ids[i] != ids[i + 1]]


def schema1_layers(manifest: Manifest) -> list[str]:
    """The distinct non-empty blob digests, bottom-up, that need a :class:`LayerInfo`."""
    out: list[str] = []
    for layer in _layers_bottom_up(manifest):
        if not layer.empty and layer.blob not in out:
            out.append(layer.blob)
    return out


def _history_entry(layer: _Layer) -> dict[str, Any]:
    compat = layer.compat
    entry: dict[str, Any] = {}
    created = compat.get("created")
    if isinstance(created, str) and created:
        entry["created"] = created
    container_config = compat.get("container_config")
    cmd = container_config.get("Cmd") if isinstance(container_config, Mapping) else None
    if isinstance(cmd, list):
        created_by = " ".join(str(part) for part in cmd)
        if created_by:
            entry["created_by"] = created_by
    for key in ("author", "comment"):
        value = compat.get(key)
        if isinstance(value, str) and value:
            entry[key] = value
    if layer.empty:
        entry["empty_layer"] = True
    return entry


def _dumps(doc: Mapping[str, Any], *, sort_keys: bool) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys).encode()


def convert_schema1(manifest: Manifest, layers: Mapping[str, LayerInfo]) -> Converted:
    """Build the schema2 config and manifest for a schema1 ``manifest``.

    ``layers`` maps each digest from :func:`schema1_layers` to its
    :class:`LayerInfo`; extra entries are ignored.
    """
    bottom_up = _layers_bottom_up(manifest)
    diff_ids: list[str] = []
    descriptors: list[dict[str, Any]] = []
    for layer in bottom_up:
        if layer.empty:
            continue
        info = layers.get(layer.blob)
        if info is None:
            raise _fail(f"no diff_id/size known for layer {layer.blob}")
        if not _SHA256.fullmatch(info.diff_id):
            raise _fail(f"diff_id {info.diff_id!r} of layer {layer.blob} is not a sha256 digest")
        if info.size < 0:
            raise _fail(f"size {info.size} of layer {layer.blob} is negative")
        diff_ids.append(info.diff_id)
        descriptors.append(
            {"mediaType": mt.DOCKER_LAYER_GZIP, "size": info.size, "digest": layer.blob}
        )

    config_doc = {k: v for k, v in bottom_up[-1].compat.items() if k not in DROPPED_KEYS}
    config_doc["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    config_doc["history"] = [_history_entry(layer) for layer in bottom_up]
    config = _dumps(config_doc, sort_keys=True)
    config_digest = digest_of(config)

    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "size": len(config), "digest": config_digest},
        "layers": descriptors,
    }
    raw = _dumps(manifest_doc, sort_keys=False)
    return Converted(config, config_digest, raw, digest_of(raw))
