"""Sigstore/cosign and OCI 1.1 naming: where an image's attachments live.

Pure. Cosign stores a signature, attestation or SBOM of the manifest
``sha256:<hex>`` under the tag ``sha256-<hex>.sig`` (``.att``, ``.sbom``) in
the image's repository. OCI 1.1 referrers (manifests with a ``subject``) are
listed by ``GET /v2/<repo>/referrers/<digest>``, or, on registries without that
API, in an index under the fallback tag ``sha256-<hex>``.
"""

from __future__ import annotations

from enum import StrEnum

from hangard.core.reference import parse_digest

__all__ = [
    "SIGNATURE_ANNOTATION",
    "SIMPLESIGNING_MEDIA_TYPE",
    "CosignSuffix",
    "cosign_tag",
    "referrers_fallback_tag",
]

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
"""The layer annotation holding a cosign signature (base64) over the layer's
payload."""

SIMPLESIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
"""The media type of a cosign signature payload (a "simple signing" JSON
document whose ``critical.image.docker-manifest-digest`` names the image)."""


class CosignSuffix(StrEnum):
    """The tag suffixes cosign uses for what it attaches to a manifest."""

    SIGNATURE = "sig"
    ATTESTATION = "att"
    SBOM = "sbom"


def referrers_fallback_tag(digest: str) -> str:
    """The OCI 1.1 referrers fallback tag of ``digest``: ``sha256-<hex>``."""
    algorithm, _, encoded = parse_digest(digest).partition(":")
    return f"{algorithm}-{encoded}"


def cosign_tag(digest: str, suffix: CosignSuffix) -> str:
    """Cosign's tag for what ``suffix`` names, attached to ``digest``:
    ``sha256-<hex>.sig`` and the like."""
    return f"{referrers_fallback_tag(digest)}.{suffix.value}"
