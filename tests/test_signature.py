"""Cosign signatures verified with public keys (hangard.core.signature) and
the decision over them (hangard.core.verdict). Keys come from
:mod:`cryptography`; signatures are made as cosign makes them."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hangard.core.policy import Identity, Reject, Requirement, SigstoreSigned
from hangard.core.reference import parse_reference
from hangard.core.signature import (
    MAX_PAYLOAD_SIZE,
    load_public_key,
    parse_payload,
    signature_verifies,
)
from hangard.core.verdict import SignatureLayer, decide, needs_signatures
from hangard.errors import InputError, SignatureInvalidError, SignatureMissingError
from tests.helpers_sign import KeyKind, Signer, payload

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
IMAGE = parse_reference(f"example.test/app:v1@{DIGEST}")


@pytest.mark.parametrize("kind", ["ec", "ed25519", "rsa", "rsa-pss"])
def test_each_key_type_verifies_its_own_signature_only(kind: KeyKind) -> None:
    signer, stranger = Signer(kind), Signer(kind)
    key = load_public_key(signer.public_pem, "cosign.pub")
    body = payload(DIGEST)
    good = signer.sign(body)

    assert signature_verifies(key, body, good)
    assert not signature_verifies(key, body + b" ", good)  # the exact bytes are signed
    assert not signature_verifies(key, body, stranger.sign(body))
    assert not signature_verifies(key, body, "not base64!")


def test_unusable_keys_are_refused_with_the_reason() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = serialization.Encoding.PEM
    spki = serialization.PublicFormat.SubjectPublicKeyInfo

    with pytest.raises(InputError, match=r"k\.pub: not a PEM public key"):
        load_public_key(b"-----BEGIN NONSENSE-----", "k.pub")
    with pytest.raises(InputError, match="RSA key of 1024 bits; at least 2048"):
        load_public_key(small.public_bytes(pem, spki), "k.pub")
    with pytest.raises(InputError, match="curve P-256, not secp384r1"):
        load_public_key(p384.public_bytes(pem, spki), "k.pub")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "not a simple-signing payload"),
        (b'{"critical": {}}', "not a simple-signing payload"),
        (b"\xff", "not a simple-signing payload"),
        (payload(DIGEST).replace(b"cosign container image signature", b"other"), "is not a cosign"),
        (payload("sha256:short"), "is not a digest"),
        (b'{"critical": 1, "critical": 2}', "duplicate key"),
        (b'{"critical": NaN}', "non-JSON constant"),
        (b" " * (MAX_PAYLOAD_SIZE + 1), "is not a signature"),
    ],
)
def test_payloads_are_parsed_strictly(raw: bytes, message: str) -> None:
    with pytest.raises(SignatureInvalidError, match=message):
        parse_payload(raw, what="sig")


def test_a_payload_names_its_digest_and_identity() -> None:
    parsed = parse_payload(payload(DIGEST, "registry.test/x"), what="sig")
    assert (parsed.digest, parsed.identity) == (DIGEST, "registry.test/x")


def _layer(
    signer: Signer, signs: str = DIGEST, identity: str = "example.test/app"
) -> SignatureLayer:
    body = payload(signs, identity)
    return SignatureLayer(body, signer.sign(body), "sha256:" + "00" * 32)


def test_one_good_signature_among_bad_ones_is_enough() -> None:
    trusted, stranger = Signer("ec"), Signer("ed25519")
    need = SigstoreSigned((load_public_key(trusted.public_pem, "a.pub"),))

    decide([need], IMAGE, [_layer(stranger), _layer(trusted)], where="sig")

    with pytest.raises(SignatureInvalidError, match="does not verify with the keys") as info:
        decide([need], IMAGE, [_layer(stranger)], where="sig")
    assert info.value.reason.value == "signature_invalid"
    assert "a.pub" in info.value.message and "--insecure-policy" in (info.value.remedy or "")


def test_a_signature_for_another_digest_does_not_count() -> None:
    signer = Signer("ec")
    need = SigstoreSigned((load_public_key(signer.public_pem, "a.pub"),))
    with pytest.raises(SignatureInvalidError, match=f"signs {OTHER}, not this image"):
        decide([need], IMAGE, [_layer(signer, signs=OTHER)], where="sig")


def test_no_signature_is_signature_missing() -> None:
    need = SigstoreSigned((load_public_key(Signer().public_pem, "a.pub"),))
    with pytest.raises(
        SignatureMissingError, match=r"no cosign signature .*\(sig not found\)"
    ) as info:
        decide([need], IMAGE, [], where="sig")
    assert info.value.reason.value == "signature_missing"


def test_a_layer_without_the_annotation_is_no_signature() -> None:
    need = SigstoreSigned((load_public_key(Signer().public_pem, "a.pub"),))
    with pytest.raises(SignatureInvalidError, match="no signature annotation"):
        decide([need], IMAGE, [SignatureLayer(payload(DIGEST), None)], where="sig")


@pytest.mark.parametrize(
    ("identity", "claimed", "ok"),
    [
        (Identity("matchRepository"), "example.test/app", True),
        (Identity("matchRepository"), "example.test/other", False),
        (Identity("matchRepoDigestOrExact"), "example.test/app:v1", True),
        (Identity("matchRepoDigestOrExact"), "example.test/app", False),  # a tag is exact
        (Identity("matchExact"), "example.test/app:v2", False),
        (Identity("exactRepository", "vendor.test/app"), "vendor.test/app", True),
        (Identity("exactReference", "vendor.test/app:1"), "vendor.test/app:1", True),
        (Identity("exactReference", "vendor.test/app:1"), "vendor.test/app:2", False),
    ],
)
def test_signed_identity(identity: Identity, claimed: str, ok: bool) -> None:
    assert identity.matches(IMAGE, claimed) is ok


def test_reject_refuses_without_looking_for_signatures() -> None:
    requirements: list[Requirement] = [Reject("example.test"), SigstoreSigned(())]
    assert not needs_signatures(requirements)
    with pytest.raises(
        SignatureInvalidError, match=r"rejects every image of scope 'example\.test'"
    ):
        decide(requirements, IMAGE, [], where="sig")


def test_layer_payload_is_signed_bytes_not_reserialised_json() -> None:
    signer = Signer("ec")
    key = load_public_key(signer.public_pem, "a.pub")
    body = payload(DIGEST)
    pretty = json.dumps(json.loads(body), indent=2).encode()
    assert not signature_verifies(key, pretty, signer.sign(body))
    assert base64.b64decode(signer.sign(body))  # the helper's output is base64
