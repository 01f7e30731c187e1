"""OCI 1.1 referrers calls: ``GET /v2/<repo>/referrers/<digest>``, and a
manifest push that says whether the registry indexed its ``subject``.

These go beside :class:`~hangard.registry.client.RegistryClient` (same
transport, scopes and path checks), not in it, to keep one concept per
module.
"""

from __future__ import annotations

import json

from hangard.core import mediatypes as mt
from hangard.core.manifest import Descriptor, Manifest, valid_digest
from hangard.core.reference import ImageReference, Repository
from hangard.errors import InvalidManifestError
from hangard.registry.client import MAX_MANIFEST_SIZE, RegistryClient

__all__ = ["list_referrers", "push_referrer"]

#: Referrers one answer may list; a larger answer is refused, not followed.
MAX_REFERRERS = 1000


async def list_referrers(
    client: RegistryClient, repo: Repository, digest: str
) -> list[Descriptor] | None:
    """The descriptors of the manifests whose ``subject`` is ``digest``, or
    ``None`` when the registry has no referrers API (404, as distribution
    2.8 answers, or 400/405). One page: a registry that pages referrers
    (``Link``) is read as far as its first page."""
    response = await client._pull(  # same pull scope and path checks as a manifest GET
        repo,
        "GET",
        f"referrers/{valid_digest(digest)}",
        headers={"Accept": mt.OCI_INDEX},
        ok=(200, 400, 404, 405),
        max_body=MAX_MANIFEST_SIZE,
        what="referrers list",
    )
    if response.status_code != 200:
        return None
    try:
        doc = json.loads(response.content)
        entries = doc.get("manifests") or [] if isinstance(doc, dict) else None
        if not isinstance(entries, list) or len(entries) > MAX_REFERRERS:
            raise ValueError("not a list of at most 1000 manifests")
        return [Descriptor.from_json(e) for e in entries]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidManifestError(
            f"referrers list of {repo}@{digest} is not an OCI index: {exc}"
        ) from None


async def push_referrer(client: RegistryClient, ref: ImageReference, manifest: Manifest) -> bool:
    """PUT ``manifest`` (which has a ``subject``) at ``ref``; whether the
    registry answered with ``OCI-Subject``, i.e. keeps its referrers list
    itself. Without it the caller updates the fallback index."""
    response = await client._push(  # same push scopes and Harbor projects as a manifest PUT
        ref.repository,
        "PUT",
        f"manifests/{ref.reference}",
        headers={"Content-Type": manifest.media_type},
        content=manifest.raw,
        image=str(ref),
        ok=(200, 201, 202, 204),
    )
    return bool(response.headers.get("oci-subject"))
