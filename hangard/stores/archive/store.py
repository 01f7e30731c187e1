"""A Hangar zip archive as an :class:`~hangard.stores.base.ImageStore`:
one image name (``source`` in the archive's index) in one
:class:`~hangard.stores.archive.opened.Archive`.

The layout (see ``docs/archive-format.md``):

* ``share/sha256/<hex>``: every blob, manifests and the original top
  index included, once per archive;
* ``<manifest-hex>/index.json`` + ``<manifest-hex>/oci-layout``: a
  minimal OCI layout per image manifest, its blobs in ``share/``;
* ``index.json``: the list of images (written at commit).

Keys are tags or digests, as for every store. A manifest put by digest is
a share blob (and, for an image manifest, its layout); one put by tag is
also recorded as the image's list entry, built from the manifests and
configs already in the archive. Read by tag, an entry gives back its
original index (hangard's ``hangardIndex``), its only manifest, or, for a
multi-platform entry Hangar made, an index rebuilt as Hangar's load does
(the digest differs; a warning says so).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import structlog

from hangard.core import mediatypes as mt
from hangard.core.archive import OCI_LAYOUT, ListEntry, layout_index, layout_names, share_name
from hangard.core.archiveentry import build_entry, rebuild_index
from hangard.core.manifest import Descriptor, Manifest, check_digest, digest_of, parse_manifest
from hangard.core.reference import parse_reference
from hangard.errors import (
    ArchiveError,
    DigestMismatchError,
    ErrorContext,
    InputError,
    InvalidReferenceError,
    NotFoundError,
)
from hangard.stores.archive.opened import Archive, ArchiveSet
from hangard.stores.base import ImageStore

__all__ = ["CONFIG_LIMIT", "MANIFEST_LIMIT", "Archive", "ArchiveBlob", "ArchiveSet", "ArchiveStore"]

log = structlog.get_logger("hangard.stores.archive")

MANIFEST_LIMIT = 4 << 20
"""A manifest in an archive is read whole; past this it is refused (as
from a registry)."""
CONFIG_LIMIT = 16 << 20
"""A blob read whole (an image config); past this it is refused."""
REBUILT = "multi-platform image from a Hangar archive without its index: index rebuilt as Hangar's load does; the digest differs from the original"


def _same_source(recorded: str, wanted: str) -> bool:
    """``recorded`` (an index ``source``) names ``wanted`` (``host/repo``)."""
    if recorded == wanted:
        return True
    try:
        return parse_reference(recorded).name == wanted
    except InvalidReferenceError:
        return False


@dataclass
class ArchiveBlob:
    """A share blob open for reading: its bytes hash-checked as they pass,
    so a damaged blob fails naming the blob, the image and the archive."""

    archive: Archive
    digest: str
    size: int
    image: str

    async def chunks(self) -> AsyncIterator[bytes]:
        hasher, seen = hashlib.sha256(), 0
        what = f"blob {self.digest} of image {self.image} in {self.archive.path}"
        try:
            async for chunk in self.archive.chunks(share_name(self.digest), hasher=hasher):
                seen += len(chunk)
                yield chunk
                if seen == self.size:
                    actual = f"sha256:{hasher.hexdigest()}"
                    if actual != self.digest:
                        raise DigestMismatchError(self.digest, actual, what=what)
        except ArchiveError as exc:
            raise _damaged(exc, what) from None


def _damaged(exc: ArchiveError, what: str) -> ArchiveError:
    """The zip layer's error (a CRC mismatch, a truncated entry) naming the
    blob and the image too."""
    return ArchiveError(
        f"{exc.message} ({what})",
        remedy="the archive is damaged: copy or save it again (hangard refuses damaged blobs)",
    )


class ArchiveStore:
    """The image ``image`` (``host/repo``; ``None``: the archive's only
    image) in ``archive``."""

    def __init__(self, archive: Archive, image: str | None = None) -> None:
        self.archive = archive
        self.image = image

    @property
    def name(self) -> str:
        """The archive: its blobs are shared by all its images."""
        return self.archive.name

    def __str__(self) -> str:
        return f"{self.archive.name}:{self.image}" if self.image else self.archive.name

    def _not_found(self, key: str) -> NotFoundError:
        what = f"{self.image}:{key}" if self.image and ":" not in key else key or "an image"
        text = f"{self.archive.path} has no {what}"
        if not self.archive.exists:
            text = f"{self.archive.path} has no {what}: there is no such archive"
        return NotFoundError(text, ErrorContext(image=str(self)))

    # ------------------------------------------------------------ entries
    async def entries(self) -> list[ListEntry]:
        """The list entries of this image (every entry without one)."""
        index = await self.archive.index()
        return [e for e in index.entries if not self.image or _same_source(e.source, self.image)]

    async def entry(self, key: str) -> ListEntry | None:
        """The entry tagged ``key``; ``""``: the only one."""
        found = await self.entries()
        if key:
            return next((e for e in found if e.tag == key), None)
        if not found and not self.archive.exists:
            raise self._not_found(key)
        if len(found) != 1:
            of = f" of {self.image}" if self.image else ""
            names = ", ".join(e.name for e in found[:5]) or "none"
            raise InputError(
                f"{self.archive.path} holds {len(found)} images{of} ({names}); "
                f"name one with hangar-archive:{self.archive.path}:IMAGE:TAG"
            )
        return found[0]

    async def _top(self, key: str) -> tuple[bytes, str] | None:
        """The top manifest of the entry tagged ``key``, and its type."""
        entry = await self.entry(key)
        if entry is None:
            return None
        if entry.index is not None:
            raw = await self._blob_bytes(entry.index.digest, MANIFEST_LIMIT, "index")
            return raw, entry.index.media_type
        if len(entry.images) == 1:
            spec = entry.images[0]
            raw = await self._blob_bytes(spec.digest, MANIFEST_LIMIT, "manifest")
            return raw, spec.media_type or parse_manifest(raw).media_type
        if not entry.images:
            raise ArchiveError(f"{self.archive.path}: {entry.name} lists no images")
        sizes = {}
        for spec in entry.images:
            found = await self.archive.entry(share_name(spec.digest))
            if found is None:
                raise self._missing(spec.digest, entry.name)
            sizes[spec.digest] = found.size
        raw = rebuild_index(entry, sizes)
        log.warning(
            REBUILT, image=entry.name, archive=str(self.archive.path), digest=digest_of(raw)
        )
        return raw, mt.OCI_INDEX

    def _missing(self, digest: str, image: str) -> ArchiveError:
        return ArchiveError(
            f"{self.archive.path}: {image} needs {share_name(digest)}, which is not in the archive"
        )

    async def _blob_bytes(self, digest: str, limit: int, what: str) -> bytes:
        name = share_name(digest)
        if await self.archive.entry(name) is None:
            raise self._not_found(digest)
        what = f"{what} {digest} of image {self.image or '(unnamed)'} in {self.archive.path}"
        try:
            raw = await self.archive.read(name, limit=limit)
        except ArchiveError as exc:
            raise _damaged(exc, what) from None
        check_digest(raw, digest, what=what)
        return raw

    # ---------------------------------------------------------- manifests
    async def head_manifest(self, key: str) -> Descriptor | None:
        if key and ":" in key:
            if await self.archive.entry(share_name(key)) is None:
                return None
            manifest = await self.get_manifest(key)
            layout = layout_names(key)[0]  # an image manifest is complete with its layout
            if not manifest.is_index and await self.archive.entry(layout) is None:
                return None
            return Descriptor(manifest.media_type, key, len(manifest.raw))
        top = await self._top(key)
        if top is None:
            return None
        raw, kind = top
        return Descriptor(kind, digest_of(raw), len(raw))

    async def get_manifest_bytes(self, key: str) -> tuple[bytes, str]:
        if key and ":" in key:
            raw = await self._blob_bytes(key, MANIFEST_LIMIT, "manifest")
            return raw, parse_manifest(raw, image=str(self)).media_type
        top = await self._top(key)
        if top is None:
            raise self._not_found(key)
        return top

    async def get_manifest(self, key: str) -> Manifest:
        raw, kind = await self.get_manifest_bytes(key)
        expected = key if key and ":" in key else None
        return parse_manifest(raw, media_type=kind, expected_digest=expected, image=str(self))

    async def put_manifest(self, key: str, manifest: Manifest) -> None:
        raw = manifest.raw
        await self.archive.write(share_name(manifest.digest), len(raw), raw, digest=manifest.digest)
        if not manifest.is_index:
            index_name, marker = layout_names(manifest.digest)
            layout = layout_index(manifest)
            await self.archive.write(index_name, len(layout), layout)
            await self.archive.write(marker, len(OCI_LAYOUT), OCI_LAYOUT)
        if key and ":" in key:
            return
        if not self.image or not key:
            raise InputError(
                f"{self.archive.path}: an image needs a name and tag in an archive "
                f"(hangar-archive:{self.archive.path}:IMAGE:TAG)"
            )
        await self.archive.record(await self._build(key, manifest))

    async def _build(self, tag: str, top: Manifest) -> ListEntry:
        """The list entry for ``top``, from the manifests and configs the
        copier has already put here."""
        images = [top]
        manifests: dict[str, Manifest] = {}
        for desc in top.children:
            child = await self.get_manifest(desc.digest)
            manifests[desc.digest] = child
            images.append(child)
        configs: dict[str, bytes] = {}
        for image in images:
            if image.config is not None and image.config.digest not in configs:
                configs[image.config.digest] = await self.get_blob(image.config.digest)
        assert self.image is not None
        return build_entry(self.image, tag, top, manifests, configs)

    # -------------------------------------------------------------- blobs
    async def blob_exists(self, digest: str) -> bool:
        if digest in self.archive.base_layers:  # a delta leaves its base's layers out
            return True
        return await self.archive.entry(share_name(digest)) is not None

    @asynccontextmanager
    async def open_blob(self, digest: str) -> AsyncIterator[ArchiveBlob]:
        found = await self.archive.entry(share_name(digest))
        if found is None:
            raise self._not_found(digest)
        yield ArchiveBlob(self.archive, digest, found.size, self.image or "(unnamed)")

    async def get_blob(self, digest: str) -> bytes:
        return await self._blob_bytes(digest, CONFIG_LIMIT, "blob")

    async def put_blob(
        self, digest: str, size: int | None, body: AsyncIterable[bytes] | bytes
    ) -> None:
        await self.archive.write(share_name(digest), size, body, digest=digest)

    async def put_verified_blob(
        self, digest: str, size: int | None, body: AsyncIterable[bytes] | bytes, *, what: str
    ) -> None:
        """The archive hashes what it writes: a blob that does not hash to
        ``digest`` is never committed (see :meth:`Archive.write`)."""
        await self.archive.write(share_name(digest), size, body, digest=digest, what=what)

    async def mount_blob(self, digest: str, source: ImageStore) -> bool:
        return False

    def write_slot(self) -> AbstractAsyncContextManager[None]:
        """One blob transfer at a time into the archive: the source blob is
        opened only once it can be written."""
        return self.archive.slot

    async def list_tags(self) -> list[str]:
        return sorted({e.tag for e in await self.entries()})
