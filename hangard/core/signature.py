"""Cosign signatures with a public key: the simple-signing payload and the
signature over it. Pure; the maths is :mod:`cryptography`'s.

A cosign signature of the manifest ``sha256:<hex>`` is a layer of the
manifest tagged ``sha256-<hex>.sig`` (:func:`hangard.core.cosign.cosign_tag`):
its blob is the *payload*, a small JSON document ("simple signing")::

    {"critical": {"identity": {"docker-reference": "registry/repo"},
                  "image": {"docker-manifest-digest": "sha256:<hex>"},
                  "type": "cosign container image signature"},
     "optional": {...}}

and its annotation ``dev.cosignproject.cosign/signature`` holds the base64
signature over the payload's exact bytes. A signature counts for an image
when it verifies with a trusted key *and* its payload names that image's
digest; otherwise a signature of one image could vouch for any other.

Keys are PEM public keys, as ``cosign generate-key-pair`` writes
``cosign.pub``: ECDSA P-256 (SHA-256), Ed25519, or RSA of 2048 bits or more
(SHA-256, PKCS#1 v1.5 as cosign signs, or PSS).

:mod:`cryptography` is imported by the functions that use it: a config
without keys never loads it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hangard.core.reference import parse_digest
from hangard.errors import InputError, SignatureInvalidError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

__all__ = [
    "COSIGN_SIGNATURE_TYPE",
    "MAX_PAYLOAD_SIZE",
    "MAX_SIGNATURE_SIZE",
    "Payload",
    "VerifyKey",
    "load_public_key",
    "parse_payload",
    "signature_verifies",
]

COSIGN_SIGNATURE_TYPE = "cosign container image signature"
#: A payload is a few hundred bytes; anything past this is not one.
MAX_PAYLOAD_SIZE = 64 << 10
#: The base64 text of one signature (an RSA-8192 signature is ~1.4 KiB).
MAX_SIGNATURE_SIZE = 8 << 10
_MIN_RSA_BITS = 2048


@dataclass(frozen=True, eq=False)
class VerifyKey:
    """A trusted public key and where it came from (its file, or
    ``policy.json keyData``): what messages name it by."""

    name: str
    key: PublicKey


def load_public_key(pem: bytes, name: str) -> VerifyKey:
    """The PEM public key in ``pem``; :class:`~hangard.errors.InputError`
    saying what is wrong with it otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputError(f"{name}: not a PEM public key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InputError(f"{name}: ECDSA keys must use curve P-256, not {key.curve.name}")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise InputError(f"{name}: RSA key of {key.key_size} bits; at least 2048 needed")
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise InputError(f"{name}: unsupported key type (use ECDSA P-256, Ed25519 or RSA)")
    return VerifyKey(name, key)


@dataclass(frozen=True)
class Payload:
    """What a simple-signing payload claims."""

    digest: str
    """``critical.image.docker-manifest-digest``: the signed manifest."""
    identity: str | None
    """``critical.identity.docker-reference``: where the signer pushed it."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON constant {name}")


def parse_payload(raw: bytes, *, what: str) -> Payload:
    """Parse a simple-signing payload, strictly (size-capped, UTF-8, no
    duplicate keys, the cosign type); :class:`SignatureInvalidError` naming
    ``what`` otherwise."""
    if len(raw) > MAX_PAYLOAD_SIZE:
        raise SignatureInvalidError(f"{what}: payload of {len(raw)} bytes is not a signature")
    try:
        doc = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
        critical = doc["critical"]
        kind = critical["type"]
        digest = critical["image"]["docker-manifest-digest"]
        identity = critical.get("identity", {}).get("docker-reference")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignatureInvalidError(f"{what}: not a simple-signing payload ({exc})") from None
    if kind != COSIGN_SIGNATURE_TYPE:
        raise SignatureInvalidError(f"{what}: payload type {kind!r} is not a cosign signature")
    if not isinstance(digest, str) or not isinstance(identity, str | None):
        raise SignatureInvalidError(f"{what}: payload digest or identity is not a string")
    try:
        parse_digest(digest)
    except InputError:
        raise SignatureInvalidError(f"{what}: payload digest {digest!r} is not a digest") from None
    return Payload(digest, identity)


def _decode(signature: str) -> bytes | None:
    if len(signature) > MAX_SIGNATURE_SIZE:
        return None
    try:
        return base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None


def signature_verifies(key: VerifyKey, payload: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64, as in the layer annotation) is
    ``key``'s over the exact bytes of ``payload``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    raw = _decode(signature)
    if raw is None:
        return False
    public = key.key
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(raw, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(raw, payload)
        else:
            return _rsa_verifies(public, raw, payload)
    except InvalidSignature:
        return False
    return True


def _rsa_verifies(public: rsa.RSAPublicKey, raw: bytes, payload: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    for scheme in (padding.PKCS1v15(), pss):
        try:
            public.verify(raw, payload, scheme, hashes.SHA256())
        except InvalidSignature:
            continue
        return True
    return False
