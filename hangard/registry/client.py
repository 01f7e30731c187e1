"""The async registry client: the OCI distribution API calls.

Each method builds one protocol request (URL, scopes, headers, accepted
statuses) and hands it on. The client *has* a
:class:`~hangard.registry.access.RegistryAccess` (ping, auth, rate-limit
floor, observer) over a :class:`~hangard.registry.transport.Transport`
(pools, TLS, proxies, redirects, retries, limits, error translation), with
Harbor projects (:mod:`hangard.registry.harbor`) made to exist before pushes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from hangard.core import mediatypes as mt
from hangard.core.manifest import (
    Descriptor,
    Manifest,
    check_digest,
    parse_manifest,
    valid_digest,
)
from hangard.core.reference import ImageReference, Repository
from hangard.errors import (
    BodyTooLargeError,
    DigestMismatchError,
    ErrorContext,
    InvalidManifestError,
    RegistryError,
    ResponseError,
    UnsupportedMediaTypeError,
)
from hangard.registry.access import RegistryAccess, ResponseObserver
from hangard.registry.auth import pull_scope, push_scope
from hangard.registry.blobreader import BlobReader
from hangard.registry.chunks import Upload, UploadSession, chunks_of, upload_offset
from hangard.registry.clock import SYSTEM_CLOCK, Clock
from hangard.registry.credentials import CredentialStore
from hangard.registry.errormap import response_error
from hangard.registry.harbor import HarborProjects
from hangard.registry.options import ClientOptions
from hangard.registry.pages import read_tag_pages
from hangard.registry.paths import location_url, repo_path
from hangard.registry.proxy import ProxySettings
from hangard.registry.sessions import opened
from hangard.registry.settling import until_settled
from hangard.registry.transport import Call, Transport

__all__ = ["BlobReader", "RegistryClient"]

log = structlog.get_logger("hangard.registry")

MAX_MANIFEST_SIZE = 4 * 1024 * 1024
TAG_PAGE_SIZE = 1000


class RegistryClient:
    """Async client for OCI / Docker registries: ``async with RegistryClient(options,
    credentials) as client: ...``. ``on_response(registry, method, status,
    seconds)`` sees every registry answer; ``clock`` is the time source of retries, pacing and token expiry."""

    def __init__(
        self,
        options: ClientOptions | None = None,
        credentials: CredentialStore | None = None,
        *,
        on_response: ResponseObserver | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.options = options or ClientOptions()
        self.transport = Transport(self.options, clock=clock)
        self.access = RegistryAccess(
            self.transport, credentials or CredentialStore(), on_response=on_response
        )
        self.harbor = HarborProjects(self.access)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()

    @property
    def proxies(self) -> ProxySettings:
        """The proxies requests go through (from the environment)."""
        return self.transport.proxies

    @property
    def ratelimit_remaining(self) -> dict[str, int]:
        return self.access.ratelimit_remaining  # the last each registry sent

    def transfer_slot(self, *registries: str) -> AbstractAsyncContextManager[None]:
        """Hold while streaming a blob between ``registries`` (see limits.py)."""
        return self.transport.transfer_slot(*registries)

    async def _pull(self, repo: Repository, method: str, where: str, **kw: Any) -> httpx.Response:
        """A call needing ``pull`` on ``repo``; ``where`` is a path under
        ``/v2/<repo>/`` or an absolute URL the registry gave us."""
        kw.setdefault("image", str(repo))
        call = Call(repo.registry, method, repo_path(repo, where), **kw)
        return await self.harbor.read(repo, call, [pull_scope(repo.path)])

    async def _push(
        self, repo: Repository, method: str, where: str, *, also: Sequence[str] = (), **kw: Any
    ) -> httpx.Response:
        """A call needing ``push,pull`` on ``repo`` (plus ``also`` scopes): every push."""
        kw.setdefault("image", str(repo))
        call = Call(repo.registry, method, repo_path(repo, where), **kw)
        return await self.harbor.write(repo, call, [push_scope(repo.path), *also])

    @staticmethod
    def _header_digest(response: httpx.Response, image: str) -> str | None:
        """``Docker-Content-Digest``; an invalid one is logged and ignored."""
        digest = response.headers.get("docker-content-digest")
        if not digest:
            return None
        try:
            return valid_digest(digest)
        except ValueError:
            log.warning("invalid Docker-Content-Digest ignored", image=image, header=digest)
            return None

    # ------------------------------------------------------------------ manifests

    async def head_manifest(self, ref: ImageReference) -> Descriptor | None:
        """The target's descriptor for ``ref``, or ``None`` when absent (404/403).

        Falls back to a GET when the registry sends no digest header.
        """
        response = await self._pull(
            ref.repository,
            "HEAD",
            f"manifests/{ref.reference}",
            headers={"Accept": mt.MANIFEST_ACCEPT},
            image=str(ref),
            ok=(200, 404, 403),
        )
        if response.status_code in (404, 403):
            return None
        digest = self._header_digest(response, str(ref))
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if not digest or (ref.digest and digest != ref.digest):
            manifest = await self.get_manifest(ref)
            return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
        size = int(response.headers.get("content-length") or -1)
        return Descriptor(media_type, digest, size)

    async def _fetch_manifest(self, ref: ImageReference) -> httpx.Response:
        return await self._pull(
            ref.repository,
            "GET",
            f"manifests/{ref.reference}",
            headers={"Accept": mt.MANIFEST_ACCEPT},
            image=str(ref),
            max_body=MAX_MANIFEST_SIZE,
            what="manifest",
        )

    async def get_manifest_bytes(self, ref: ImageReference) -> tuple[bytes, str]:
        """The exact bytes and media type of any manifest, even one hangard
        cannot copy or parse; checked against the digest when pinned."""
        response = await self._fetch_manifest(ref)
        raw, kind = response.content, response.headers.get("content-type", "").split(";")[0]
        try:
            manifest = parse_manifest(
                raw, media_type=kind, expected_digest=ref.digest, image=str(ref)
            )
            return raw, manifest.media_type
        except (UnsupportedMediaTypeError, InvalidManifestError):
            check_digest(raw, ref.digest, what=f"manifest {ref}")
            return raw, kind.strip() or "application/octet-stream"

    async def get_manifest(self, ref: ImageReference) -> Manifest:
        """GET the manifest bytes, checked against the digest when pinned."""
        response = await self._fetch_manifest(ref)
        manifest = parse_manifest(
            response.content,
            media_type=response.headers.get("content-type"),
            expected_digest=ref.digest,
            image=str(ref),
        )
        header = self._header_digest(response, str(ref))
        if header and header != manifest.digest and not manifest.is_schema1:
            log.warning(
                "registry digest header disagrees with content; trusting content",
                image=str(ref),
                header=header,
                computed=manifest.digest,
            )
        return manifest

    async def put_manifest(self, ref: ImageReference, manifest: Manifest) -> str:
        """PUT the exact bytes under ``ref.reference``; return the digest."""
        await self.push_manifest(ref, manifest)
        return manifest.digest

    async def push_manifest(self, ref: ImageReference, manifest: Manifest) -> httpx.Response:
        """Every manifest PUT: retried until the registry has settled what it
        names (settling.py), its echoed ``Docker-Content-Digest`` checked."""

        def push() -> Awaitable[httpx.Response]:
            return self._push(
                ref.repository,
                "PUT",
                f"manifests/{ref.reference}",
                headers={"Content-Type": manifest.media_type},
                content=manifest.raw,
                image=str(ref),
                ok=(200, 201, 202, 204),
            )

        response = await until_settled(push, self.transport.clock, str(ref))
        echoed = response.headers.get("docker-content-digest")
        if echoed and echoed != manifest.digest and not manifest.is_schema1:
            raise DigestMismatchError(manifest.digest, echoed, what=f"pushed manifest {ref}")
        return response

    # ------------------------------------------------------------------ blobs

    async def blob_exists(self, repo: Repository, digest: str) -> bool:
        response = await self._pull(repo, "HEAD", f"blobs/{digest}", ok=(200, 404))
        return response.status_code == 200

    @asynccontextmanager
    async def open_blob(self, repo: Repository, digest: str) -> AsyncIterator[BlobReader]:
        """Stream a blob. The caller verifies the digest as it reads."""
        response = await self._pull(
            repo,
            "GET",
            f"blobs/{digest}",
            headers={"Accept-Encoding": "identity"},
            image=f"{repo}@{digest}",
            stream=True,
            blob=True,
        )
        try:
            image, clock = f"{repo}@{digest}", self.transport.clock
            yield BlobReader.watched(response, repo.registry, image, clock, self.options)
        finally:
            await response.aclose()

    async def get_blob(self, repo: Repository, digest: str, *, max_size: int = 16 << 20) -> bytes:
        """Read a small blob (a config) fully, verifying its digest."""
        data = bytearray()
        async with self.open_blob(repo, digest) as blob:
            async for chunk in blob.chunks():
                data += chunk
                if max(len(data), blob.size or 0) > max_size:
                    raise BodyTooLargeError(
                        f"blob {digest} is larger than {max_size} bytes; stopped reading it",
                        ErrorContext(image=str(repo), registry=repo.registry),
                    )
        check_digest(bytes(data), digest, what=f"blob {repo}@{digest}")
        return bytes(data)

    def _location(self, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise RegistryError(
                "registry started an upload without a Location header",
                ErrorContext(registry=response.request.url.host, status=response.status_code),
            )
        return location_url(response.request.url, location)

    async def start_upload(self, repo: Repository) -> str:
        """``POST /blobs/uploads/``; returns the absolute upload URL."""
        post = self._push(
            repo, "POST", "blobs/uploads/", headers={"Content-Length": "0"}, ok=(202,)
        )
        return self._location(await opened(post, lambda url: self.cancel_upload(repo, url)))

    async def mount_blob(
        self, repo: Repository, digest: str, from_repo: Repository
    ) -> tuple[bool, str | None]:
        """Cross-repo mount within one registry.

        Returns ``(True, None)`` when mounted, or ``(False, location)`` when the
        registry opened a normal upload instead (or the mount failed and
        ``location`` is ``None``): the caller then uploads.
        """
        post = self._push(
            repo,
            "POST",
            f"blobs/uploads/?mount={quote(digest)}&from={quote(from_repo.path)}",
            also=[pull_scope(from_repo.path)],
            headers={"Content-Length": "0"},
            ok=(201, 202),
        )
        try:
            response = await opened(post, lambda url: self.cancel_upload(repo, url))
        except ResponseError as exc:
            log.debug("mount refused, uploading instead", repo=str(repo), error=str(exc))
            return False, None
        if response.status_code == 201:
            return True, None
        return False, self._location(response)

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        # keep the registry's own query (upload state) untouched
        return f"{location}{'&' if '?' in location else '?'}digest={quote(digest)}"

    async def put_blob(
        self,
        repo: Repository,
        location: str,
        digest: str,
        size: int,
        body: AsyncIterable[bytes] | bytes,
    ) -> None:
        """Monolithic upload: one ``PUT location?digest=`` with the whole body."""
        await self._push(
            repo,
            "PUT",
            self._with_digest(location, digest),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            content=body,
            image=f"{repo}@{digest}",
            ok=(201, 204),
            replayable=isinstance(body, bytes),
            blob=True,
        )

    async def put_blob_chunked(
        self,
        repo: Repository,
        location: str,
        digest: str,
        body: AsyncIterable[bytes],
        chunk_size: int,
        *,
        session: UploadSession | None = None,
    ) -> None:
        """``PATCH`` chunks of ``chunk_size`` bytes (the memory bound), then ``PUT ?digest=``. Each
        PATCH goes to the newest Location, kept in ``session.location`` (to cancel the upload)."""
        upload, offset = session or Upload(location), 0
        async for chunk in chunks_of(body, chunk_size):
            while len(chunk):
                end = offset + len(chunk) - 1
                response = await self._push(
                    repo,
                    "PATCH",
                    upload.location,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{end}",
                        "Content-Length": str(len(chunk)),
                    },
                    content=chunk,
                    image=f"{repo}@{digest}",
                    ok=(202, 204, 416),
                    blob=True,
                )
                if response.status_code == 416:
                    status = await self._push(repo, "GET", upload.location, ok=(204, 200))
                    confirmed, upload.location = upload_offset(status, upload.location)
                    if not 0 <= confirmed - offset <= len(chunk):
                        raise response_error(response, registry=repo.registry, image=str(repo))
                    chunk.drop(confirmed - offset)
                    offset = confirmed
                    continue
                offset, upload.location = end + 1, self._location(response)
                chunk.clear()  # even if a reference cycle keeps the request alive
        await self._push(
            repo,
            "PUT",
            self._with_digest(upload.location, digest),
            headers={"Content-Length": "0", "Content-Type": "application/octet-stream"},
            image=f"{repo}@{digest}",
            ok=(201, 204),
        )

    async def cancel_upload(self, repo: Repository, location: str) -> None:
        """Best-effort ``DELETE`` of an upload session."""
        try:
            await self._push(repo, "DELETE", location, ok=(200, 202, 204, 404))
        except RegistryError as exc:
            log.debug("could not cancel upload", repo=str(repo), error=str(exc))

    # ------------------------------------------------------------------ tags

    async def list_tags(self, repo: Repository) -> list[str]:
        """Every tag, following ``Link: <…>; rel="next"`` pagination; it
        always ends (see :mod:`hangard.registry.pages`)."""

        async def fetch(url: str) -> httpx.Response:
            return await self._pull(repo, "GET", url, what="tag list page")

        return await read_tag_pages(repo, f"tags/list?n={TAG_PAGE_SIZE}", fetch)
