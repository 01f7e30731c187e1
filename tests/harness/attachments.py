"""Cosign-shaped attachments and OCI 1.1 referrers, built by the tests.

Shapes only: a ``.sig`` manifest carries a simplesigning payload and a
signature annotation whose value is not a real signature (copying does not
look at it; the policy's tests sign for real). No cosign binary is needed.
"""

from __future__ import annotations

import base64
import json

from hangard.core.cosign import (
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    CosignSuffix,
    cosign_tag,
    referrers_fallback_tag,
)
from tests.harness import images
from tests.harness.images import Blob, Image
from tests.harness.registry import Registry

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LAYER_TYPES = {
    CosignSuffix.SIGNATURE: SIMPLESIGNING_MEDIA_TYPE,
    CosignSuffix.ATTESTATION: "application/vnd.dsse.envelope.v1+json",
    CosignSuffix.SBOM: "text/spdx+json",
}
SBOM_TYPE = "application/vnd.example.sbom.v1+json"


def _manifest(config: Blob, layers: list[tuple[Blob, dict[str, str]]], **extra: object) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [
            blob.descriptor(annotations=ann) if ann else blob.descriptor() for blob, ann in layers
        ],
    }
    doc.update(extra)
    return json.dumps(doc, indent=2).encode()


def cosign_artifact(subject: str, suffix: CosignSuffix, *seeds: int) -> Image:
    """What cosign pushes under ``sha256-<hex>.<suffix>``: one layer per
    signature (``seeds``), each a payload naming ``subject``."""
    layers = []
    for seed in seeds or (0,):
        payload = json.dumps(
            {
                "critical": {
                    "identity": {"docker-reference": "example/image"},
                    "image": {"docker-manifest-digest": subject},
                    "type": "cosign container image signature",
                },
                "optional": {"seed": seed},
            }
        ).encode()
        fake = base64.b64encode(f"not-a-signature-{seed}".encode()).decode()
        layers.append((Blob(payload, LAYER_TYPES[suffix]), {SIGNATURE_ANNOTATION: fake}))
    config = Blob(
        json.dumps(
            {"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode(),
        OCI_CONFIG,
    )
    raw = _manifest(config, layers)
    return Image(raw, OCI_MANIFEST, config, [b for b, _ in layers], platform=None)


def push_cosign(
    registry: Registry, repo: str, subject: str, suffix: CosignSuffix, *seeds: int
) -> Image:
    """Push a cosign artifact under its tag; returns it."""
    artifact = cosign_artifact(subject, suffix, *seeds)
    return images.push_image(registry, repo, artifact, cosign_tag(subject, suffix))


def referrer(subject: Image | images.Index, artifact_type: str, seed: int = 0) -> Image:
    """An OCI 1.1 artifact manifest with ``subject`` and ``artifactType``."""
    config = Blob(b"{}", OCI_EMPTY)
    layer = Blob(json.dumps({"sbom": seed}).encode(), "application/json")
    subject_desc = {
        "mediaType": subject.media_type,
        "digest": subject.digest,
        "size": len(subject.manifest),
    }
    raw = _manifest(config, [(layer, {})], artifactType=artifact_type, subject=subject_desc)
    return Image(raw, OCI_MANIFEST, config, [layer], platform=None)


def fallback_index(entries: list[tuple[Image, str]]) -> bytes:
    """A referrers fallback index listing ``(manifest, artifact type)``."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [m.descriptor(artifactType=t) for m, t in entries],
    }
    return json.dumps(doc).encode()


def push_referrers(
    registry: Registry, repo: str, subject: str, entries: list[tuple[Image, str]]
) -> bytes:
    """Push each referrer by digest, then the fallback index under
    ``sha256-<hex>`` (as a client does for registry 2.8); returns its bytes."""
    for manifest, _ in entries:
        images.push_image(registry, repo, manifest)
    raw = fallback_index(entries)
    client = images.RegistryClient(registry)
    try:
        client.put_manifest(repo, referrers_fallback_tag(subject), raw, OCI_INDEX)
    finally:
        client.close()
    return raw
