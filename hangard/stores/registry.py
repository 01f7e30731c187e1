"""A registry repository as an :class:`~hangard.stores.base.ImageStore`,
over :class:`~hangard.registry.client.RegistryClient`.

The registry's extras (cross-repository mounts, transfer slots, chunked
uploads, restarts) are the copier's :class:`~hangard.copy.TransferSession`,
which reaches them through :attr:`RegistryStore.client` when the target is
a registry.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from hangard.core.manifest import Descriptor, Manifest
from hangard.core.reference import ImageReference, Repository
from hangard.registry.blobreader import BlobReader
from hangard.registry.client import RegistryClient
from hangard.stores.base import ImageStore

__all__ = ["RegistryStore"]


@dataclass(frozen=True)
class RegistryStore:
    """One repository of a registry. ``origin`` (when given) is the reference
    the user wrote: the key it names is sent as that reference, so errors
    keep quoting it whole (tag and digest)."""

    client: RegistryClient
    repository: Repository
    origin: ImageReference | None = None

    @classmethod
    def at(cls, client: RegistryClient, ref: ImageReference) -> RegistryStore:
        return cls(client, ref.repository, ref)

    @property
    def name(self) -> str:
        return str(self.repository)

    @property
    def registry(self) -> str:
        return self.repository.registry

    def ref(self, key: str) -> ImageReference:
        """The image reference for a tag or digest key."""
        if self.origin is not None and key == self.origin.reference:
            return self.origin
        if key.startswith("sha256:") or key.startswith("sha512:"):
            return self.repository.digest(key)
        return self.repository.tag(key)

    async def head_manifest(self, key: str) -> Descriptor | None:
        return await self.client.head_manifest(self.ref(key))

    async def get_manifest(self, key: str) -> Manifest:
        return await self.client.get_manifest(self.ref(key))

    async def get_manifest_bytes(self, key: str) -> tuple[bytes, str]:
        return await self.client.get_manifest_bytes(self.ref(key))

    async def put_manifest(self, key: str, manifest: Manifest) -> None:
        await self.client.put_manifest(self.ref(key), manifest)

    async def blob_exists(self, digest: str) -> bool:
        return await self.client.blob_exists(self.repository, digest)

    @asynccontextmanager
    async def open_blob(self, digest: str) -> AsyncIterator[BlobReader]:
        async with self.client.open_blob(self.repository, digest) as reader:
            yield reader

    async def get_blob(self, digest: str) -> bytes:
        return await self.client.get_blob(self.repository, digest)

    async def put_blob(
        self, digest: str, size: int | None, body: AsyncIterable[bytes] | bytes
    ) -> None:
        """A monolithic upload when the size is known, chunked otherwise; the
        upload session is cancelled when the body fails."""
        client, repo = self.client, self.repository
        location = await client.start_upload(repo)
        try:
            if isinstance(body, bytes):
                await client.put_blob(repo, location, digest, len(body), body)
            elif size is not None:
                await client.put_blob(repo, location, digest, size, body)
            else:
                chunk_size = client.options.upload_chunk_size
                await client.put_blob_chunked(repo, location, digest, body, chunk_size)
        except BaseException:
            await client.cancel_upload(repo, location)
            raise

    async def mount_blob(self, digest: str, source: ImageStore) -> bool:
        if not isinstance(source, RegistryStore) or source.registry != self.registry:
            return False
        mounted, location = await self.client.mount_blob(self.repository, digest, source.repository)
        if location is not None:
            await self.client.cancel_upload(self.repository, location)
        return mounted

    async def list_tags(self) -> list[str]:
        return await self.client.list_tags(self.repository)
