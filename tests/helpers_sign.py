"""Cosign-shaped signatures built by the tests, without a cosign binary.

* :class:`Signer` - a key pair made with :mod:`cryptography` (``ec``: ECDSA
  P-256 with SHA-256 as ``cosign generate-key-pair`` makes; ``ed25519``;
  ``rsa``: 2048 bits, PKCS#1 v1.5 as cosign signs, or PSS with
  ``rsa-pss``); ``public_pem`` is what ``cosign.pub`` holds, ``sign`` gives
  the base64 signature over the exact payload bytes.
* :func:`payload` - a simple-signing payload naming an image digest.
* :func:`push_signature` - the manifest cosign pushes as
  ``sha256-<hex>.sig``: an OCI image manifest with an empty config and one
  layer per signature (media type ``application/vnd.dev.cosign.simplesigning.v1+json``,
  the signature in the ``dev.cosignproject.cosign/signature`` annotation).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from hangard.core.cosign import (
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    CosignSuffix,
    cosign_tag,
)
from tests.harness import images
from tests.harness.images import OCI_CONFIG, OCI_MANIFEST, Blob, Image
from tests.harness.registry import Registry

KeyKind = Literal["ec", "ed25519", "rsa", "rsa-pss"]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def _generate(kind: KeyKind) -> PrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Signer:
    kind: KeyKind = "ec"
    private: PrivateKey = field(init=False)

    def __post_init__(self) -> None:
        self.private = _generate(self.kind)

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def write_public(self, path: Path) -> Path:
        path.write_bytes(self.public_pem)
        return path

    def sign(self, data: bytes) -> str:
        key = self.private
        if isinstance(key, ec.EllipticCurvePrivateKey):
            raw = key.sign(data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            raw = key.sign(data)
        elif self.kind == "rsa-pss":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            raw = key.sign(data, pss, hashes.SHA256())
        else:
            raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()


def payload(digest: str, identity: str = "example.test/app") -> bytes:
    """A simple-signing payload as cosign writes it (compact JSON)."""
    doc = {
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Signature:
    """One layer of a signature manifest."""

    payload: bytes
    signature: str | None


def signature_of(
    signer: Signer, digest: str, *, identity: str = "example.test/app", signs: str | None = None
) -> Signature:
    """``signer``'s signature, attached to ``digest``, over a payload naming
    ``signs`` (default: ``digest`` itself)."""
    body = payload(signs or digest, identity)
    return Signature(body, signer.sign(body))


def signature_manifest(signatures: list[Signature]) -> Image:
    config = Blob(
        b'{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}',
        OCI_CONFIG,
    )
    layers = [Blob(s.payload, SIMPLESIGNING_MEDIA_TYPE) for s in signatures]
    descriptors = []
    for blob, sig in zip(layers, signatures, strict=True):
        extra = {"annotations": {SIGNATURE_ANNOTATION: sig.signature}} if sig.signature else {}
        descriptors.append(blob.descriptor(**extra))
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": descriptors,
    }
    return Image(json.dumps(doc).encode(), OCI_MANIFEST, config, list(layers))


def push_signature(
    registry: Registry, repo: str, digest: str, signatures: list[Signature]
) -> Image:
    """Push ``signatures`` for ``digest`` under its cosign tag."""
    manifest = signature_manifest(signatures)
    return images.push_image(registry, repo, manifest, cosign_tag(digest, CosignSuffix.SIGNATURE))


def sign_image(
    registry: Registry,
    repo: str,
    digest: str,
    signer: Signer,
    *,
    identity: str = "example.test/app",
) -> Image:
    """Sign ``digest`` with ``signer`` the way ``cosign sign --key`` does."""
    return push_signature(registry, repo, digest, [signature_of(signer, digest, identity=identity)])
