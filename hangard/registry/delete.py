"""Deleting one tag from a registry repository (pruning's protocol call).

The OCI distribution spec lets ``DELETE /v2/<name>/manifests/<tag>`` remove
a tag alone. CNCF distribution 2.8 does not: it answers a tag with 400
``DIGEST_INVALID`` and deletes manifests by digest only, which removes
*every* tag pointing at that manifest. So :func:`delete_tag`:

1. tries the tag (a registry that supports it is done in one request);
2. otherwise deletes by digest, but only when no other tag of the
   repository (hangard's or anyone's) points at that digest or at an index
   listing it as a child (:class:`TagCensus`); else the tag is left in place
   and the outcome says why (:attr:`DeleteOutcome.SHARED`).

A registry with deletes switched off (405, or ``UNSUPPORTED``) gets an error
naming the setting that enables them.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

from hangard.core import mediatypes as mt
from hangard.core.reference import ImageReference, Repository
from hangard.errors import ErrorContext, ResponseError
from hangard.registry.client import RegistryClient
from hangard.registry.errormap import parse_error_body, response_error

__all__ = ["DELETE_REMEDY", "DeleteOutcome", "TagCensus", "delete_scope", "delete_tag"]

DELETE_REMEDY = (
    "enable deletes on the target registry (distribution: storage.delete.enabled: true, "
    "or REGISTRY_STORAGE_DELETE_ENABLED=true), or turn prune off for this target"
)
_ANSWERS = (200, 202, 204, 400, 404, 405)


class DeleteOutcome(StrEnum):
    BY_TAG = "deleted"
    BY_DIGEST = "deleted by digest"
    GONE = "already gone"
    SHARED = "kept: other tags share its manifest"
    IMAGE_KEPT = "kept: its image is still tagged"
    """An attachment whose image a tag still holds (decided before any request)."""


def delete_scope(path: str) -> str:
    """The token scope a manifest ``DELETE`` needs (distribution asks for it)."""
    return f"repository:{path}:delete"


class TagCensus:
    """Which tags of one repository hold a manifest: point at its digest, or
    at an index listing it. Each tag is looked at once (a ``HEAD``, and a
    ``GET`` for an index), when a digest delete first needs it."""

    def __init__(self, client: RegistryClient, repo: Repository, tags: list[str]) -> None:
        self._client = client
        self._repo = repo
        self._tags = list(tags)
        self._holds: dict[str, frozenset[str]] | None = None
        self._lock = asyncio.Lock()

    def deleted(self, tag: str) -> None:
        if tag in self._tags:
            self._tags.remove(tag)
        if self._holds is not None:
            self._holds.pop(tag, None)

    async def holders(self, digest: str, excluding: str) -> list[str]:
        """The tags other than ``excluding`` that hold ``digest``."""
        async with self._lock:
            if self._holds is None:
                gate = asyncio.Semaphore(4)
                found = await asyncio.gather(*(self._look(t, gate) for t in self._tags))
                self._holds = dict(zip(self._tags, found, strict=True))
        return sorted(t for t, held in self._holds.items() if digest in held and t != excluding)

    async def _look(self, tag: str, gate: asyncio.Semaphore) -> frozenset[str]:
        async with gate:
            ref = self._repo.tag(tag)
            head = await self._client.head_manifest(ref)
            if head is None:
                return frozenset()
            if head.media_type not in mt.INDEX_TYPES:
                return frozenset({head.digest})
            index = await self._client.get_manifest(ref.with_digest(head.digest))
            return frozenset({head.digest, *(c.digest for c in index.children)})


async def delete_tag(
    client: RegistryClient, ref: ImageReference, digest: str, census: TagCensus
) -> DeleteOutcome:
    """Delete ``ref`` (a tag known to point at ``digest``) without touching
    any other tag; see the module docstring."""
    assert ref.tag is not None
    response = await _delete(client, ref, ref.tag)
    if response < 300:
        census.deleted(ref.tag)
        return DeleteOutcome.BY_TAG
    others = await census.holders(digest, excluding=ref.tag)
    if others:
        return DeleteOutcome.SHARED
    status = await _delete(client, ref, digest, final=True)
    census.deleted(ref.tag)
    return DeleteOutcome.GONE if status == 404 else DeleteOutcome.BY_DIGEST


async def _delete(
    client: RegistryClient, ref: ImageReference, reference: str, *, final: bool = False
) -> int:
    """``DELETE manifests/<reference>``; the status. A refusal that means
    "no deletes here" raises when ``final`` (the digest attempt)."""
    repo = ref.repository
    response = await client._push(
        repo,
        "DELETE",
        f"manifests/{reference}",
        also=[delete_scope(repo.path)],
        image=str(ref),
        ok=_ANSWERS,
    )
    status = response.status_code
    if status < 300 or not final:
        return status
    code, message = parse_error_body(response)
    if status == 404:
        return status
    if status == 405 or code == "UNSUPPORTED":
        raise ResponseError(
            f"the registry does not allow deleting {ref} (HTTP {status}"
            f"{' ' + code if code else ''}: {message or 'method not allowed'})",
            ErrorContext(image=str(ref), registry=repo.registry, status=status, code=code),
            remedy=DELETE_REMEDY,
        )
    raise response_error(response, registry=repo.registry, image=str(ref))
