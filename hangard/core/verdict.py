"""Whether an image may be copied: its policy requirements against the
cosign signatures fetched for its digest. Pure.

Every requirement must hold (as in containers-policy.json(5)). A
``sigstoreSigned`` requirement holds when at least one signature layer

* has a simple-signing payload that names the image's digest,
* fits the requirement's ``signedIdentity`` (when it has one), and
* verifies with one of the requirement's keys.

No signature at all is :class:`~hangard.errors.SignatureMissingError`
(reason ``signature_missing``); signatures of which none counts, and a
``reject`` scope, are :class:`~hangard.errors.SignatureInvalidError`
(``signature_invalid``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hangard.core.policy import Reject, Requirement, SigstoreSigned
from hangard.core.reference import ImageReference
from hangard.core.signature import parse_payload, signature_verifies
from hangard.errors import SignatureInvalidError, SignatureMissingError

__all__ = ["SignatureLayer", "decide", "needs_signatures"]

INSECURE_REMEDY = "or pass --insecure-policy to copy without checking"


@dataclass(frozen=True)
class SignatureLayer:
    """One layer of a cosign signature manifest: the payload's bytes and
    the ``dev.cosignproject.cosign/signature`` annotation (``None``: absent)."""

    payload: bytes
    signature: str | None
    digest: str = ""
    """The payload blob's digest, for messages."""


def needs_signatures(requirements: Sequence[Requirement]) -> bool:
    """Whether deciding needs the image's signatures fetched."""
    return any(isinstance(r, SigstoreSigned) for r in requirements) and not any(
        isinstance(r, Reject) for r in requirements
    )


def decide(
    requirements: Sequence[Requirement],
    image: ImageReference,
    signatures: Sequence[SignatureLayer],
    *,
    where: str,
) -> None:
    """Return when ``image`` (pinned to its digest) may be copied; raise
    the refusal otherwise. ``signatures`` are the layers found under the
    cosign tag ``where`` (empty: none)."""
    assert image.digest is not None, "decide on a pinned image"
    for requirement in requirements:
        if isinstance(requirement, Reject):
            raise SignatureInvalidError(
                f"the signature policy rejects every image of scope {requirement.scope!r}",
                remedy=f"allow the scope in policy.json, {INSECURE_REMEDY}",
            )
    for requirement in requirements:
        if isinstance(requirement, SigstoreSigned):
            _check_signed(requirement, image, signatures, where)


def _key_names(requirement: SigstoreSigned) -> str:
    return ", ".join(k.name for k in requirement.keys) or "(none)"


def _check_signed(
    requirement: SigstoreSigned,
    image: ImageReference,
    signatures: Sequence[SignatureLayer],
    where: str,
) -> None:
    if not signatures:
        raise SignatureMissingError(
            f"no cosign signature for {image.digest} ({where} not found); "
            f"{requirement.source} wants one by {_key_names(requirement)}",
            remedy=f"sign the image at the source (cosign sign --key …), {INSECURE_REMEDY}",
        )
    problems = [_why_not(requirement, image, layer, where) for layer in signatures]
    if any(p is None for p in problems):
        return
    raise SignatureInvalidError(
        f"none of the {len(signatures)} signature(s) in {where} counts for "
        f"{requirement.source} ({_key_names(requirement)}): {'; '.join(map(str, problems))}",
        remedy=f"check that the image was signed with one of these keys, {INSECURE_REMEDY}",
    )


def _why_not(
    requirement: SigstoreSigned, image: ImageReference, layer: SignatureLayer, where: str
) -> str | None:
    """Why ``layer`` does not satisfy ``requirement`` (``None``: it does)."""
    what = f"{where} layer {layer.digest[:19] or '?'}"
    if layer.signature is None:
        return f"{what} has no signature annotation"
    try:
        payload = parse_payload(layer.payload, what=what)
    except SignatureInvalidError as exc:
        return exc.message
    if payload.digest != image.digest:
        return f"{what} signs {payload.digest}, not this image"
    if requirement.identity is not None and not requirement.identity.matches(
        image, payload.identity
    ):
        return f"{what} claims identity {payload.identity!r}, which {requirement.identity.kind} refuses"
    if not any(signature_verifies(k, layer.payload, layer.signature) for k in requirement.keys):
        return f"{what} does not verify with the keys"
    return None
