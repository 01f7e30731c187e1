"""The one interface for "a place images live": a registry repository, an
OCI image layout directory, an image in a Hangar zip archive.

Modelled on regclient's ``scheme.API`` and containers/image's
``ImageSource``/``ImageDestination``. A store is bound to one repository (or
one directory); manifests are named by a *key*: a tag, or a digest
(``sha256:…``). The copier (:mod:`hangard.copy`) is written once against
this interface: ordering, de-duplication, verification while streaming, the
platform filter and schema1 conversion stay there. A store only moves bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from hangard.core.manifest import Descriptor, Manifest

__all__ = ["BlobSource", "BlobStream", "ImageStore", "SerialWrites", "VerifyingWrites"]


class BlobStream(Protocol):
    """An open blob: its size when known, and its bytes as they come."""

    @property
    def size(self) -> int | None: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class BlobSource(Protocol):
    """Anything a blob can be streamed from."""

    def open_blob(self, digest: str) -> AbstractAsyncContextManager[BlobStream]:
        """Stream a blob; the caller verifies the digest as it reads."""
        ...


class ImageStore(BlobSource, Protocol):
    """Manifests by tag or digest, blobs by digest, and the tag list."""

    @property
    def name(self) -> str:
        """How errors and logs name the store (``host/repo``, ``oci:DIR``)."""
        ...

    async def head_manifest(self, key: str) -> Descriptor | None:
        """The manifest's descriptor under ``key``, or ``None`` when absent."""
        ...

    async def get_manifest(self, key: str) -> Manifest:
        """The manifest under ``key``, checked against it when a digest."""
        ...

    async def get_manifest_bytes(self, key: str) -> tuple[bytes, str]:
        """The exact bytes and media type, even of a manifest hangard cannot parse."""
        ...

    async def put_manifest(self, key: str, manifest: Manifest) -> None:
        """Store the exact bytes of ``manifest`` under ``key`` (tag or digest)."""
        ...

    async def blob_exists(self, digest: str) -> bool: ...

    async def get_blob(self, digest: str) -> bytes:
        """A small blob (a config) whole, verified."""
        ...

    async def put_blob(
        self, digest: str, size: int | None, body: AsyncIterable[bytes] | bytes
    ) -> None:
        """Store a blob from ``body``. The copier hands a verifying stream;
        a store that can also refuses bytes that do not match ``digest``."""
        ...

    async def mount_blob(self, digest: str, source: ImageStore) -> bool:
        """Make ``digest`` exist here from ``source`` without moving bytes;
        ``False`` ("cannot") when this store cannot, and the copier streams."""
        ...

    async def list_tags(self) -> list[str]: ...


@runtime_checkable
class SerialWrites(Protocol):
    """A store that writes one blob at a time (a zip archive is one stream):
    the copier holds :meth:`write_slot` from before it opens the source
    blob until the blob is stored, so waiting transfers hold no open
    source stream (a registry connection would idle and time out)."""

    def write_slot(self) -> AbstractAsyncContextManager[None]: ...


@runtime_checkable
class VerifyingWrites(Protocol):
    """A store that hashes a blob's bytes as it writes them and never
    commits one that does not hash to its digest: the copier streams into
    it through :meth:`put_verified_blob` without hashing the bytes itself,
    so each blob is hashed once."""

    async def put_verified_blob(
        self, digest: str, size: int | None, body: AsyncIterable[bytes] | bytes, *, what: str
    ) -> None:
        """As ``put_blob``, raising
        :class:`~hangard.errors.DigestMismatchError` naming ``what`` (and
        storing nothing) when the bytes do not hash to ``digest``."""
        ...
