"""Check an image's cosign signatures at its source before it is copied.

The requirements come from :meth:`hangard.core.policy.Trust.requirements`;
when there are none, nothing here makes a request. Otherwise, for the
manifest digest being copied (an index's own digest for an index: what
cosign signs is the digest it was given):

1. ``GET`` the manifest tagged ``sha256-<hex>.sig`` at the source (404:
   no signature);
2. ``GET`` each of its simple-signing layers (at most
   :data:`MAX_SIGNATURE_LAYERS`, each at most
   :data:`~hangard.core.signature.MAX_PAYLOAD_SIZE` bytes, verified against
   its digest);
3. decide (:func:`hangard.core.verdict.decide`): return, or raise
   :class:`~hangard.errors.SignatureMissingError` /
   :class:`~hangard.errors.SignatureInvalidError`.

The image is then copied by that digest, so what was verified is what is
copied, even if the tag moves meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from hangard.core.cosign import (
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    CosignSuffix,
    cosign_tag,
)
from hangard.core.manifest import Descriptor, Manifest
from hangard.core.policy import Reject, Requirement, Trust
from hangard.core.reference import ImageReference
from hangard.core.signature import MAX_PAYLOAD_SIZE
from hangard.core.transports import StoreReference
from hangard.core.verdict import INSECURE_REMEDY, SignatureLayer, decide, needs_signatures
from hangard.errors import (
    ConfigError,
    ErrorContext,
    InvalidManifestError,
    NotFoundError,
    SignatureInvalidError,
    UnsupportedMediaTypeError,
)
from hangard.registry.client import RegistryClient
from hangard.stores.base import ImageStore

__all__ = [
    "MAX_SIGNATURE_LAYERS",
    "check_signatures",
    "check_store_signatures",
    "fetch_signatures",
    "read_signatures",
    "verified_source",
    "verify_copy_source",
]

log = structlog.get_logger("hangard.copy")

#: Signatures looked at per image: cosign adds one layer per signing.
MAX_SIGNATURE_LAYERS = 32


async def fetch_signatures(client: RegistryClient, image: ImageReference) -> list[SignatureLayer]:
    """The simple-signing layers of ``image``'s cosign signature manifest
    (``[]`` when there is none)."""
    assert image.digest is not None
    sig_ref = image.repository.tag(cosign_tag(image.digest, CosignSuffix.SIGNATURE))
    try:
        manifest = await client.get_manifest(sig_ref)
    except NotFoundError:
        return []
    except (InvalidManifestError, UnsupportedMediaTypeError) as exc:
        raise SignatureInvalidError(f"{sig_ref} is not a cosign signature: {exc.message}") from exc
    found = []
    for desc in _signature_layers(manifest, str(sig_ref)):
        payload = await client.get_blob(image.repository, desc.digest, max_size=MAX_PAYLOAD_SIZE)
        found.append(
            SignatureLayer(payload, desc.annotations.get(SIGNATURE_ANNOTATION), desc.digest)
        )
    return found


async def read_signatures(store: ImageStore, digest: str) -> list[SignatureLayer]:
    """As :func:`fetch_signatures`, from another store: the cosign tag of
    ``digest`` beside the image (an archive's, as ``save`` keeps it)."""
    tag = cosign_tag(digest, CosignSuffix.SIGNATURE)
    where = f"{store}:{tag}"
    try:
        if await store.head_manifest(tag) is None:
            return []
        manifest = await store.get_manifest(tag)
    except NotFoundError:
        return []
    except (InvalidManifestError, UnsupportedMediaTypeError) as exc:
        raise SignatureInvalidError(f"{where} is not a cosign signature: {exc.message}") from exc
    found = []
    for desc in _signature_layers(manifest, where):
        payload = await store.get_blob(desc.digest)
        found.append(
            SignatureLayer(payload, desc.annotations.get(SIGNATURE_ANNOTATION), desc.digest)
        )
    return found


def _signature_layers(manifest: Manifest, where: str) -> list[Descriptor]:
    """The simple-signing layers of a signature manifest, each small enough
    to be a payload; :class:`SignatureInvalidError` for anything else."""
    if manifest.is_index or manifest.is_schema1:
        raise SignatureInvalidError(f"{where} is not a cosign signature: not an image manifest")
    layers = [d for d in manifest.layers if d.media_type == SIMPLESIGNING_MEDIA_TYPE]
    if len(layers) > MAX_SIGNATURE_LAYERS:
        raise SignatureInvalidError(
            f"{where} has {len(layers)} signature layers, more than the "
            f"{MAX_SIGNATURE_LAYERS} hangard looks at"
        )
    for desc in layers:
        if desc.size > MAX_PAYLOAD_SIZE:
            raise SignatureInvalidError(
                f"{where}: layer {desc.digest} of {desc.size} bytes is not a signature payload"
            )
    return layers


async def check_signatures(
    client: RegistryClient, image: ImageReference, requirements: Sequence[Requirement]
) -> None:
    """Return when ``image`` (pinned to the digest about to be copied) meets
    ``requirements``; raise the refusal otherwise."""
    if not requirements:
        return
    assert image.digest is not None, "check the digest that is copied"
    tag = cosign_tag(image.digest, CosignSuffix.SIGNATURE)
    layers = await fetch_signatures(client, image) if needs_signatures(requirements) else []
    decide(requirements, image, layers, where=f"{image.name}:{tag}")
    log.info("signature verified", image=str(image), signatures=len(layers))


async def check_store_signatures(
    store: ImageStore, image: ImageReference, requirements: Sequence[Requirement]
) -> None:
    """:func:`check_signatures` with the signatures ``store`` holds beside
    ``image`` (pinned: the name the policy's scopes see, and the digest
    about to be loaded): ``hangard load`` from an archive."""
    if not requirements:
        return
    assert image.digest is not None, "check the digest that is loaded"
    tag = cosign_tag(image.digest, CosignSuffix.SIGNATURE)
    wanted = needs_signatures(requirements)
    layers = await read_signatures(store, image.digest) if wanted else []
    decide(requirements, image, layers, where=f"{store}:{tag}")
    log.info("signature verified", image=str(image), signatures=len(layers), store=str(store))


async def verify_copy_source(
    client: RegistryClient, trust: Trust, source: StoreReference
) -> StoreReference:
    """``hangard copy --policy``: check ``source`` and return it pinned to
    the digest checked. A registry source's tag is resolved with one
    ``HEAD``. Signatures are looked up at registries only: a policy whose
    ``default`` wants one of an ``oci:`` or archive source is a
    :class:`ConfigError`; a ``reject`` refuses it."""
    if trust.insecure or trust.policy is None:
        return source
    if not isinstance(source, ImageReference):
        found = trust.policy.default
        if any(isinstance(r, Reject) for r in found):
            raise SignatureInvalidError(
                f"the signature policy's default rejects {source}",
                remedy=f"allow it in policy.json, {INSECURE_REMEDY}",
            )
        if needs_signatures(found):
            raise ConfigError(
                f"the policy wants a signature of {source}; signatures are checked for "
                "registry (docker://) sources only (hint: pass --insecure-policy)"
            )
        return source
    return await verified_source(client, source, trust.requirements(source, ()))


async def verified_source(
    client: RegistryClient, image: ImageReference, requirements: Sequence[Requirement]
) -> ImageReference:
    """``image`` pinned to its digest (one ``HEAD`` if it is not yet) and
    checked against ``requirements``; as is when there are none."""
    if not requirements:
        return image
    if image.digest is None:
        found = await client.head_manifest(image)
        if found is None:
            raise NotFoundError(f"{image} not found", ErrorContext(image=str(image)))
        # keep the tag it was named by (``latest`` by default): the target's name
        image = image.with_tag(image.reference).with_digest(found.digest)
    await check_signatures(client, image, requirements)
    return image
