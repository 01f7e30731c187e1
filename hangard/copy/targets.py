"""Where a copy goes: the destination reference filled in from the source
(its tag, its digest, or for an archive its image name), and an archive
source without a name or tag pinned to the archive's only image."""

from __future__ import annotations

from hangard.core.manifest import Manifest
from hangard.core.reference import ImageReference
from hangard.core.transports import ArchiveReference, StoreReference
from hangard.errors import InputError, NotFoundError
from hangard.stores.base import ImageStore

__all__ = ["pin_archive_source", "target_ref_for"]


async def pin_archive_source(src: ArchiveReference, store: ImageStore) -> ArchiveReference:
    """``src`` with the image name and tag of the entry it names (the
    archive's, or the image's, only one when it names none)."""
    from hangard.stores.archive.store import ArchiveStore

    if not isinstance(store, ArchiveStore):
        raise TypeError(f"{src} is not open as an archive")
    entry = await store.entry(src.reference)
    if entry is None:
        raise NotFoundError(f"{src.path} has no image {src.image}:{src.reference}")
    pinned = src.with_image(entry.source)
    return pinned if src.digest else pinned.with_tag(entry.tag)


def target_ref_for(
    src: StoreReference, dst: StoreReference, top: Manifest | None
) -> StoreReference:
    """Where to push: the destination's tag or digest; without either, the
    source's tag (or its digest, for a digest-only source)."""
    if dst.digest and top is not None and dst.digest != top.digest:
        raise InputError(
            f"destination {dst} is pinned to a digest that differs from the content "
            f"to push ({top.digest}); give a tag instead"
        )
    if isinstance(dst, ArchiveReference):
        return _archive_target(src, dst)
    if dst.tag or dst.digest:
        return dst
    if src.digest and not src.tag and top is not None:
        return dst.with_digest(top.digest)
    return dst.with_tag(src.tag or "latest")


def _archive_target(src: StoreReference, dst: ArchiveReference) -> ArchiveReference:
    """An archive entry needs a name and a tag: without a name, the
    source's (``host/repo``, as Hangar records ``source``); without a tag,
    the source's (``latest`` for an untagged layout)."""
    name = dst.image
    if name is None:
        name = src.name if isinstance(src, ImageReference) else None
        if isinstance(src, ArchiveReference):
            name = src.image
    if not name:
        raise InputError(
            f"destination {dst} needs an image name: hangar-archive:{dst.path}:IMAGE[:TAG]"
        )
    tag = dst.tag or src.tag or (None if src.digest else "latest")
    if tag is None:
        raise InputError(
            f"destination {dst} needs a tag for a digest-only source: "
            f"hangar-archive:{dst.path}:{name}:TAG"
        )
    return ArchiveReference(dst.path, name, tag)
