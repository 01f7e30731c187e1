"""An OCI image layout directory as an :class:`~hangard.stores.base.ImageStore`
(the image-spec's ``image-layout.md``):

* ``oci-layout``: ``{"imageLayoutVersion": "1.0.0"}``;
* ``index.json``: an image index whose entries carry the tag in the
  ``org.opencontainers.image.ref.name`` annotation;
* ``blobs/sha256/<hex>``: every blob, manifests included, byte-identical.

Writes are atomic: a blob goes to a temporary file in its own directory
(``.<hex>.*.partial``), is fsynced and renamed only once its bytes hash to
its digest, so an interrupted write leaves no partial blob under its name,
and the directory is fsynced after the rename, so the name survives a crash;
``index.json`` is rewritten with :func:`~hangard.atomicfile.write_atomic`.
A manifest stored by digest (a child of an index) is only a blob; one
stored by tag is also listed in ``index.json``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import weakref
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hangard.atomicfile import fsync_dir, write_atomic
from hangard.core import mediatypes as mt
from hangard.core.manifest import Descriptor, Manifest, check_digest, parse_manifest
from hangard.core.reference import parse_digest
from hangard.errors import DigestMismatchError, ErrorContext, InputError, NotFoundError
from hangard.stores.base import ImageStore

__all__ = ["REF_NAME", "FileBlob", "OciLayoutStore"]

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_VERSION = "1.0.0"
_READ_SIZE = 1 << 20


@dataclass
class FileBlob:
    """A blob file open for reading."""

    path: Path
    size: int

    async def chunks(self) -> AsyncIterator[bytes]:
        with self.path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, _READ_SIZE):
                yield chunk


@dataclass
class OciLayoutStore:
    """One OCI layout directory. A missing or empty directory becomes a
    layout on the first write; anything else must already be one."""

    root: Path
    _lock: asyncio.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lock = _layout_lock(self.root)

    @property
    def name(self) -> str:
        return f"oci:{self.root}"

    def __str__(self) -> str:
        return self.name

    def _bad(self, why: str) -> InputError:
        return InputError(f"{self.root} is not a usable OCI layout: {why}")

    def _blob_path(self, digest: str) -> Path:
        def fail(text: str, why: str) -> Exception:
            return InputError(f"invalid digest {text!r}: {why}")

        algorithm, _, hexpart = parse_digest(digest, fail=fail).partition(":")
        return self.root / "blobs" / algorithm / hexpart

    def _check_layout(self) -> None:
        marker = self.root / "oci-layout"
        try:
            data = json.loads(marker.read_bytes())
        except FileNotFoundError:
            raise self._bad("no oci-layout file") from None
        except (OSError, ValueError) as exc:
            raise self._bad(f"oci-layout unreadable ({exc})") from None
        if not isinstance(data, dict) or "imageLayoutVersion" not in data:
            raise self._bad("oci-layout has no imageLayoutVersion")

    def _index(self) -> dict[str, Any]:
        self._check_layout()
        try:
            data: dict[str, Any] = json.loads((self.root / "index.json").read_bytes())
        except FileNotFoundError:
            raise self._bad("no index.json") from None
        except (OSError, ValueError) as exc:
            raise self._bad(f"index.json is not valid JSON ({exc})") from None
        manifests = data.get("manifests") if isinstance(data, dict) else None
        if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
            raise self._bad("index.json has no manifests list")
        return data

    def _ensure_layout(self) -> None:
        """Make the directory a layout when it is missing or empty."""
        if not self._fresh():
            self._index()
            return
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / "oci-layout", json.dumps({"imageLayoutVersion": LAYOUT_VERSION}))
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
        write_atomic(self.root / "index.json", json.dumps(index))

    def _entry(self, key: str) -> dict[str, Any] | None:
        """The index.json entry ``key`` names: a tag, a digest, or ``""``
        (the layout's only image)."""
        entries: list[dict[str, Any]] = self._index()["manifests"]
        if not key:
            if len(entries) != 1:
                raise InputError(
                    f"{self.name} holds {len(entries)} images; name one with {self.name}:TAG"
                )
            return entries[0]
        field_name = "digest" if ":" in key else None
        for entry in entries:
            if field_name and entry.get("digest") == key:
                return entry
            if not field_name and (entry.get("annotations") or {}).get(REF_NAME) == key:
                return entry
        return None

    def _not_found(self, key: str) -> NotFoundError:
        return NotFoundError(f"{self.name} has no image {key!r}", ErrorContext(image=self.name))

    def _fresh(self) -> bool:
        """A destination not yet created: a missing or empty directory."""
        return not self.root.is_dir() or not any(self.root.iterdir())

    async def head_manifest(self, key: str) -> Descriptor | None:
        async with self._lock:  # not while a first write makes the layout
            return self._head(key)

    def _head(self, key: str) -> Descriptor | None:
        if self._fresh():
            return None
        if key and ":" in key:
            self._index()
            path = self._blob_path(key)
            if not path.is_file():
                return None
            manifest = parse_manifest(path.read_bytes(), expected_digest=key, image=self.name)
            return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
        entry = self._entry(key)
        if entry is None:
            return None
        return Descriptor(
            str(entry.get("mediaType", "")), str(entry["digest"]), entry.get("size", -1)
        )

    async def get_manifest_bytes(self, key: str) -> tuple[bytes, str]:
        entry = self._entry(key) if not key or ":" not in key else None
        digest = key if key and ":" in key else (entry or {}).get("digest")
        if not isinstance(digest, str):
            raise self._not_found(key)
        path = self._blob_path(digest)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise self._not_found(digest) from None
        check_digest(raw, digest, what=f"manifest {self.name}@{digest}")
        kind = str((entry or {}).get("mediaType") or "")
        if not kind:
            kind = str(json.loads(raw).get("mediaType") or "application/octet-stream")
        return raw, kind

    async def get_manifest(self, key: str) -> Manifest:
        raw, kind = await self.get_manifest_bytes(key)
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        return parse_manifest(raw, media_type=kind, expected_digest=digest, image=self.name)

    async def put_manifest(self, key: str, manifest: Manifest) -> None:
        await self.put_blob(manifest.digest, len(manifest.raw), manifest.raw)
        if key and ":" in key:
            return
        async with self._lock:
            index = self._index()
            kept = [
                e
                for e in index["manifests"]
                if (e.get("annotations") or {}).get(REF_NAME) != (key or None)
            ]
            entry: dict[str, Any] = {
                "mediaType": manifest.media_type,
                "digest": manifest.digest,
                "size": len(manifest.raw),
            }
            if key:
                entry["annotations"] = {REF_NAME: key}
            index["manifests"] = [*kept, entry]
            await asyncio.to_thread(write_atomic, self.root / "index.json", json.dumps(index))

    async def blob_exists(self, digest: str) -> bool:
        return self._blob_path(digest).is_file()

    @asynccontextmanager
    async def open_blob(self, digest: str) -> AsyncIterator[FileBlob]:
        path = self._blob_path(digest)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"{self.name} has no blob {digest}") from None
        yield FileBlob(path, size)

    async def get_blob(self, digest: str) -> bytes:
        path = self._blob_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{self.name} has no blob {digest}") from None
        check_digest(data, digest, what=f"blob {self.name}@{digest}")
        return data

    async def put_blob(
        self, digest: str, size: int | None, body: AsyncIterable[bytes] | bytes
    ) -> None:
        """Write to a temporary file beside the blob, check the digest,
        fsync, rename; the temporary file is removed on any failure."""
        path = self._blob_path(digest)
        async with self._lock:
            await asyncio.to_thread(self._ensure_layout)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        try:
            hasher = hashlib.new(digest.partition(":")[0])
            with os.fdopen(fd, "wb") as fh:
                chunks = _chunks(body)
                async for chunk in chunks:
                    hasher.update(chunk)
                    await asyncio.to_thread(fh.write, chunk)
                actual = f"{hasher.name}:{hasher.hexdigest()}"
                if actual != digest:
                    raise DigestMismatchError(digest, actual, what=f"blob {self.name}@{digest}")
                await asyncio.to_thread(_sync, fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        await asyncio.to_thread(fsync_dir, path.parent)

    async def mount_blob(self, digest: str, source: ImageStore) -> bool:
        return False

    async def list_tags(self) -> list[str]:
        tags = [(e.get("annotations") or {}).get(REF_NAME) for e in self._index()["manifests"]]
        return sorted({t for t in tags if isinstance(t, str)})


_LOCKS: weakref.WeakValueDictionary[tuple[int, Path], asyncio.Lock] = weakref.WeakValueDictionary()


def _layout_lock(root: Path) -> asyncio.Lock:
    """One lock per layout directory (and event loop), shared by every store
    open on it: copies into one layout update its ``index.json`` in turn."""
    try:
        loop = id(asyncio.get_running_loop())
    except RuntimeError:
        loop = 0
    key = (loop, root.absolute())
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    return lock


def _sync(fd: int) -> None:
    os.fsync(fd)


async def _chunks(body: AsyncIterable[bytes] | bytes) -> AsyncIterator[bytes]:
    if isinstance(body, bytes):
        yield body
        return
    async for chunk in body:
        yield chunk
