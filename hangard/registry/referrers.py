"""OCI 1.1 referrers calls: ``GET /v2/<repo>/referrers/<digest>``, and a
manifest push that says whether the registry indexed its ``subject``.

These go beside :class:`~hangard.registry.client.RegistryClient` (same
transport, scopes and path checks), not in it, to keep one concept per
module.
"""

from __future__ import annotations

import json

import httpx

from hangard.core import mediatypes as mt
from hangard.core.manifest import Descriptor, Manifest, valid_digest
from hangard.core.reference import ImageReference, Repository
from hangard.errors import ErrorContext, InvalidManifestError, RegistryError
from hangard.registry.client import MAX_MANIFEST_SIZE, RegistryClient
from hangard.registry.pages import read_pages

__all__ = ["MAX_REFERRERS", "MAX_REFERRER_PAGES", "list_referrers", "push_referrer"]

#: Referrers one subject may have, over all pages; a longer list is refused.
MAX_REFERRERS = 1000
#: Pages one referrers list may take (each capped at ``MAX_MANIFEST_SIZE``).
MAX_REFERRER_PAGES = 100


async def list_referrers(
    client: RegistryClient, repo: Repository, digest: str
) -> list[Descriptor] | None:
    """The descriptors of the manifests whose ``subject`` is ``digest``, or
    ``None`` when the registry has no referrers API (404, as distribution
    2.8 answers, or 400/405). A paged answer (``Link: <…>; rel="next"``) is
    followed to its end, on the same registry and the same
    ``/v2/<repo>/referrers/<digest>`` path only, within
    :data:`MAX_REFERRER_PAGES` pages and :data:`MAX_REFERRERS` entries (see
    :mod:`hangard.registry.pages`)."""
    where = f"{repo}@{digest}"

    async def fetch(url: str, *, first: bool = False) -> httpx.Response:
        return await client._pull(  # same pull scope and path checks as a manifest GET
            repo,
            "GET",
            url,
            headers={"Accept": mt.OCI_INDEX},
            ok=(200, 400, 404, 405) if first else (200,),
            max_body=MAX_MANIFEST_SIZE,
            what="referrers list",
        )

    start = await fetch(f"referrers/{valid_digest(digest)}", first=True)
    if start.status_code != 200:
        return None

    def parse(response: httpx.Response) -> list[Descriptor]:
        return _referrers_page(where, response)

    def error(why: str) -> RegistryError:
        return RegistryError(
            f"referrers list of {where} cannot be read: {why}",
            ErrorContext(image=str(repo), registry=repo.registry, method="GET"),
            remedy="the registry's referrers API answered a list hangard does not follow; "
            "set attachments.enabled: false on the entry to copy the image without them",
        )

    return await read_pages(
        start,
        fetch,
        parse,
        max_pages=MAX_REFERRER_PAGES,
        max_items=MAX_REFERRERS,
        error=error,
        what="referrers list",
        noun="referrers",
    )


def _referrers_page(where: str, response: httpx.Response) -> list[Descriptor]:
    """One page's descriptors; a page that is not an OCI index is refused."""
    try:
        doc = json.loads(response.content)
        entries = doc.get("manifests") or [] if isinstance(doc, dict) else None
        if not isinstance(entries, list) or len(entries) > MAX_REFERRERS:
            raise ValueError(f"not a list of at most {MAX_REFERRERS} manifests")
        return [Descriptor.from_json(e) for e in entries]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidManifestError(
            f"referrers list of {where} is not an OCI index: {exc}"
        ) from None


async def push_referrer(client: RegistryClient, ref: ImageReference, manifest: Manifest) -> bool:
    """PUT ``manifest`` (which has a ``subject``) at ``ref``, as every
    manifest push (:meth:`RegistryClient.push_manifest`: retried until the
    registry settled, its echoed digest checked); whether the registry
    answered with ``OCI-Subject``, i.e. keeps its referrers list itself.
    Without it the caller updates the fallback index."""
    response = await client.push_manifest(ref, manifest)
    return bool(response.headers.get("oci-subject"))
