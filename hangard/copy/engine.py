"""Copy one image (or a whole index) between any two image stores, bottom-up.

Order is what keeps a target consistent at every instant: blobs first, then
child manifests by digest, then the index or tag. A tag therefore never
points at content that is missing, even if the process dies mid-copy.

Everything here works for every pair of stores (:mod:`hangard.stores`);
a registry target's extras (mounts, chunked uploads, transfer slots,
restarts) are the :class:`TransferSession`'s.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import structlog

from hangard.copy.blobs import BlobOutcome, BlobStats, TransferSession
from hangard.copy.direct import DirectTransfers
from hangard.copy.stream import DiffIdTap, verified
from hangard.copy.targets import pin_archive_source, target_ref_for
from hangard.copy.tasks import all_or_none
from hangard.core import mediatypes as mt
from hangard.core.fanout import MAX_INDEX_CHILDREN, MAX_INDEX_DEPTH, check_fanout
from hangard.core.manifest import Descriptor, Manifest, parse_manifest, select_platforms
from hangard.core.platform import Platform
from hangard.core.reference import ImageReference, Repository
from hangard.core.schema1 import LayerInfo, convert_schema1, schema1_layers
from hangard.core.transports import ArchiveReference, StoreReference
from hangard.errors import AuthError, InvalidManifestError, OperationError
from hangard.registry.client import RegistryClient
from hangard.stores.base import ImageStore
from hangard.stores.open import open_store
from hangard.stores.registry import RegistryStore

if TYPE_CHECKING:
    from hangard.stores.archive.opened import ArchiveSet

__all__ = [
    "MAX_INDEX_CHILDREN",
    "MAX_INDEX_DEPTH",
    "NO_PLATFORM_MATCH",
    "Copier",
    "CopyResult",
    "image_platform",
    "store_platform",
]

log = structlog.get_logger("hangard.copy")

NO_PLATFORM_MATCH = "no image for the requested platforms"
PUSH_AUTH_REMEDY = (
    "check credentials and that the target project exists (Harbor needs the project created first)"
)


class _Unknown:
    """Marks "the caller did not look at the target"."""


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class CopyResult:
    """What one copy did."""

    source: str
    target: str
    source_digest: str
    target_digest: str | None
    media_type: str
    platforms: tuple[str, ...] = ()
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_present: int = 0
    bytes_moved: int = 0
    manifests_pushed: int = 0
    up_to_date: bool = False
    converted_from: str | None = None
    skipped: str | None = None
    duration: float = 0.0

    @property
    def digest_preserved(self) -> bool:
        return self.target_digest == self.source_digest

    def as_dict(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["digest_preserved"] = self.digest_preserved
        return out


@dataclass
class _Tally:
    blobs: BlobStats = field(default_factory=BlobStats)
    manifests: int = 0
    children: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    """Each child manifest's copy, by digest: an index listing a digest
    twice (or two indexes sharing one) copies it once."""


class Copier:
    """Copies images with a shared :class:`TransferSession` (so a run uploads
    each digest once per target repository) and a shared :class:`ArchiveSet`
    (one open file per archive). A run that wrote to archives ends with
    :meth:`commit` (they become final) and :meth:`close`; without a commit
    each stays a partial file that the next run resumes."""

    def __init__(
        self,
        client: RegistryClient,
        session: TransferSession | None = None,
        archives: ArchiveSet | None = None,
    ) -> None:
        self.client = client
        self.session = session or TransferSession(client)
        self.direct = DirectTransfers(self.session.progress, client.options.max_unknown_blob_size)
        self._archives = archives

    @property
    def archives(self) -> ArchiveSet:
        """Made on first use: a run between registries never loads zip code."""
        if self._archives is None:
            from hangard.stores.archive.opened import ArchiveSet

            self._archives = ArchiveSet()
        return self._archives

    def _store(self, ref: StoreReference) -> ImageStore:
        archives = self.archives if isinstance(ref, ArchiveReference) else None
        return open_store(ref, self.client, archives)

    async def commit(self) -> None:
        """Make every archive written to in this run final (its index.json
        and central directory written, the partial renamed)."""
        if self._archives is not None:
            await self._archives.commit()

    async def close(self) -> None:
        """Let go of the run's archives (uncommitted ones stay partial)."""
        if self._archives is not None:
            await self._archives.close()

    async def copy(
        self,
        src: StoreReference,
        dst: StoreReference,
        *,
        platforms: Sequence[Platform] | None = None,
        target_digest: str | _Unknown | None = UNKNOWN,
    ) -> CopyResult:
        """Copy ``src`` to ``dst``. Raises :class:`~hangard.errors.HangardError`
        subclasses on failure, with the image attached.

        ``target_digest``: what ``dst`` holds now (``None``: nothing), when
        the caller just looked; saves the copier its own ``HEAD``.
        """
        started = time.monotonic()
        try:
            result = await self._copy(src, dst, platforms or (), target_digest)
        except OperationError as exc:
            error = exc.with_context(image=str(src))
            dst_registry = dst.registry if isinstance(dst, ImageReference) else None
            src_registry = src.registry if isinstance(src, ImageReference) else None
            if (
                isinstance(error, AuthError)
                and error.context.registry == dst_registry != src_registry
            ):
                # even a HEAD refused there is about pushing, not reading
                if error is exc:
                    error = copy.copy(exc)  # ``exc`` may be shared with other copies
                error.remedy = PUSH_AUTH_REMEDY
            raise error from exc.__cause__
        return _with_duration(result, time.monotonic() - started)

    async def push_built(self, src: StoreReference, dst: StoreReference, top: Manifest) -> None:
        """Push ``top``, a manifest made here (a merged fallback index), to
        ``dst``'s tag, what it refers to copied from ``src`` first."""
        dst_store = self._store(dst)
        await self._copy_content(self._store(src), dst_store, top, _Tally())
        await dst_store.put_manifest(dst.reference, top)

    async def _copy(
        self,
        src: StoreReference,
        dst: StoreReference,
        platforms: Sequence[Platform],
        known_target: str | _Unknown | None,
    ) -> CopyResult:
        src_store = self._store(src)
        dst_store = self._store(dst)
        if isinstance(src, ArchiveReference) and not (src.image and src.reference):
            src = await pin_archive_source(src, src_store)
            src_store = self._store(src)  # names the image
        source = await src_store.get_manifest(src.reference)
        if source.is_index:
            check_fanout(source, 1, str(src))
        base = CopyResult(
            source=str(src),
            target=str(dst),
            source_digest=source.digest,
            target_digest=None,
            media_type=source.media_type,
        )
        picked = await self._pick(src, src_store, source, platforms)
        if picked is None:
            return _replace(base, skipped=NO_PLATFORM_MATCH)
        top, chosen = picked
        tally = _Tally()
        target_ref = target_ref_for(src, dst, top)
        if isinstance(target_ref, ArchiveReference):  # the image name is known now
            dst_store = self._store(target_ref)
        if top is None:
            pushed = await self._convert_schema1(src_store, dst_store, source, tally)
            log.warning(
                "schema1 image converted to Docker schema2; the target digest differs",
                image=str(src),
                source_digest=source.digest,
                target_digest=pushed.digest,
            )
        else:
            if isinstance(known_target, _Unknown):
                existing = await dst_store.head_manifest(target_ref.reference)
                known_target = existing.digest if existing is not None else None
            if known_target == top.digest:
                return _replace(base, target_digest=top.digest, up_to_date=True, platforms=chosen)
            await self._copy_content(src_store, dst_store, top, tally)
            pushed = top
        await dst_store.put_manifest(target_ref.reference, pushed)
        tally.manifests += 1
        return _replace(
            base,
            target_digest=pushed.digest,
            platforms=chosen,
            blobs_copied=tally.blobs.copied,
            blobs_mounted=tally.blobs.mounted,
            blobs_present=tally.blobs.present,
            bytes_moved=tally.blobs.bytes_moved,
            manifests_pushed=tally.manifests,
            converted_from=source.media_type if source.is_schema1 else None,
        )

    async def _pick(
        self,
        src: StoreReference,
        store: ImageStore,
        source: Manifest,
        platforms: Sequence[Platform],
    ) -> tuple[Manifest | None, tuple[str, ...]] | None:
        """What to push (``None``: a schema1 image, converted on the way)
        and the platforms it holds; ``None`` when no platform matched."""
        if source.is_index:
            selection = select_platforms(source, platforms)
            if selection.manifest is None:
                log.warning(
                    NO_PLATFORM_MATCH, image=str(src), platforms=[str(p) for p in platforms]
                )
                return None
            return selection.manifest, tuple(sorted(selection.platform_digests))
        if source.is_schema1:
            return None, ()
        if not platforms:
            return source, ()
        found = await store_platform(store, source)
        if found is None or not any(p.matches(found) for p in platforms):
            log.warning(NO_PLATFORM_MATCH, image=str(src), found=str(found))
            return None
        return source, (str(found),)

    async def _copy_content(
        self, src: ImageStore, dst: ImageStore, top: Manifest, tally: _Tally
    ) -> None:
        """Everything ``top`` refers to, before ``top`` itself goes up."""
        if top.is_index:
            await self._copy_children(src, dst, top, 1, tally)
        else:
            await self._copy_blobs(src, dst, top, tally)

    async def _copy_children(
        self, src: ImageStore, dst: ImageStore, index: Manifest, depth: int, tally: _Tally
    ) -> None:
        """The children of ``index`` (at ``depth``, the top index being 1),
        each distinct digest once per copy; one failing cancels the others."""
        distinct: dict[str, Descriptor] = {}
        for desc in index.children:
            distinct.setdefault(desc.digest, desc)
        new = [d for digest, d in distinct.items() if digest not in tally.children]
        if len(tally.children) + len(new) > MAX_INDEX_CHILDREN:
            raise InvalidManifestError(
                f"index {src.name} refers to more than {MAX_INDEX_CHILDREN} manifests in all"
            )
        for desc in new:
            child = self._copy_child(src, dst, desc, depth + 1, tally)
            tally.children[desc.digest] = asyncio.ensure_future(child)
        await all_or_none(tally.children[digest] for digest in distinct)

    async def _copy_child(
        self, src: ImageStore, dst: ImageStore, desc: Descriptor, depth: int, tally: _Tally
    ) -> None:
        """Copy one manifest an index points at, by digest, with its content."""
        if await dst.head_manifest(desc.digest) is not None:
            return
        child = await src.get_manifest(desc.digest)
        if child.is_index:
            check_fanout(child, depth, f"{src.name}@{desc.digest}")
            await self._copy_children(src, dst, child, depth, tally)
        else:
            await self._copy_blobs(src, dst, child, tally)
        await dst.put_manifest(desc.digest, child)
        tally.manifests += 1

    async def _copy_blobs(
        self, src: ImageStore, dst: ImageStore, manifest: Manifest, tally: _Tally
    ) -> None:
        await all_or_none(self._blob(src, dst, blob, tally.blobs) for blob in manifest.blobs)

    async def _blob(
        self,
        src: ImageStore,
        dst: ImageStore,
        blob: Descriptor,
        stats: BlobStats,
        tap: Callable[[bytes], None] | None = None,
    ) -> BlobOutcome:
        """A registry target goes through the session (mounts, chunks, slots,
        restarts); any other target through the one generic transfer."""
        if isinstance(dst, RegistryStore):
            origin: Repository | ImageStore = (
                src.repository if isinstance(src, RegistryStore) else src
            )
            return await self.session.ensure_blob(origin, dst.repository, blob, stats, tap=tap)
        self.direct.progress = self.session.progress  # the caller may swap it
        return await self.direct.ensure_blob(src, dst, blob, stats, tap=tap)

    async def _convert_schema1(
        self, src: ImageStore, dst: ImageStore, source: Manifest, tally: _Tally
    ) -> Manifest:
        """Copy the layers while learning their diff_ids, then push the schema2
        config built from the schema1 history."""

        async def layer(digest: str) -> tuple[str, LayerInfo]:
            tap = DiffIdTap(what=f"schema1 layer {src.name}@{digest}")
            blob = Descriptor(mt.DOCKER_LAYER_GZIP, digest, -1)
            await self._blob(src, dst, blob, tally.blobs, tap=tap)
            if not tap.seen:  # present or mounted at the target: read the source
                await self._read_through(src, blob, tap)
            return digest, LayerInfo(diff_id=tap.diff_id(), size=tap.size)

        infos = dict(await all_or_none(layer(d) for d in schema1_layers(source)))
        converted = convert_schema1(source, infos)
        config_blob = Descriptor(mt.DOCKER_CONFIG, converted.config_digest, len(converted.config))
        if not await dst.blob_exists(config_blob.digest):
            await dst.put_blob(config_blob.digest, len(converted.config), converted.config)
            tally.blobs.add(BlobOutcome.COPIED, len(converted.config))
        return parse_manifest(converted.manifest, media_type=mt.DOCKER_MANIFEST)

    async def _read_through(self, store: ImageStore, blob: Descriptor, tap: DiffIdTap) -> None:
        async with store.open_blob(blob.digest) as reader:
            async for _ in verified(reader.chunks(), blob.digest, reader.size, on_chunk=tap):
                pass


def _replace(result: CopyResult, **changes: object) -> CopyResult:
    return replace(result, **changes)  # type: ignore[arg-type]


def _with_duration(result: CopyResult, seconds: float) -> CopyResult:
    return _replace(result, duration=round(seconds, 3))


async def image_platform(
    client: RegistryClient, repo: Repository, manifest: Manifest
) -> Platform | None:
    """The platform an image manifest's config declares (one small GET)."""
    return await store_platform(RegistryStore(client, repo), manifest)


async def store_platform(store: ImageStore, manifest: Manifest) -> Platform | None:
    """The platform an image manifest's config declares (one small read)."""
    config = manifest.config
    if config is None:
        return None
    return Platform.from_config(await store.get_blob(config.digest))
