"""``hangard inspect -o json``: fetch what :mod:`hangard.core.inspection`
needs from a store (the manifest, the chosen child, its config, the tags)."""

from __future__ import annotations

import platform as _platform
from typing import TYPE_CHECKING, Any

from hangard.core.inspection import image_fields, index_fields, pick_platform
from hangard.core.platform import Platform
from hangard.core.reference import ImageReference
from hangard.errors import InputError

if TYPE_CHECKING:
    from hangard.core.manifest import Manifest
    from hangard.core.transports import StoreReference
    from hangard.stores.base import ImageStore

__all__ = ["host_platform", "inspect_json", "store_name"]

_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def host_platform() -> Platform:
    """The platform skopeo would pick on this host (Go's GOOS/GOARCH)."""
    machine = _platform.machine().lower()
    if machine.startswith("armv7"):
        return Platform(_platform.system().lower(), "arm", "v7")
    return Platform(_platform.system().lower(), _MACHINES.get(machine, machine))


def store_name(ref: StoreReference) -> str:
    """skopeo's ``Name``: the repository, without tag or digest."""
    if isinstance(ref, ImageReference):
        return ref.name
    return str(ref.with_tag("")).rstrip(":")


async def _image(
    store: ImageStore, name: str, digest: str, manifest: Manifest, tags: list[str]
) -> dict[str, Any]:
    config = await store.get_blob(manifest.config.digest) if manifest.config else None
    return image_fields(name, digest, manifest, config, tags)


async def inspect_json(
    store: ImageStore,
    ref: StoreReference,
    wanted: Platform,
    *,
    explicit: bool,
    with_tags: bool,
) -> dict[str, Any]:
    """skopeo's ``inspect`` fields for ``ref``; on an index, those of the
    child ``wanted`` matches, plus ``Manifests``. No match is an error when
    the platform was asked for (``explicit``), else only the index's
    fields are given."""
    manifest = await store.get_manifest(ref.reference)
    tags = await store.list_tags() if with_tags else []
    name = store_name(ref)
    if not manifest.is_index:
        return await _image(store, name, manifest.digest, manifest, tags)
    chosen = pick_platform(manifest, wanted)
    if chosen is None and explicit:
        raise InputError(f"{ref} is an index with no entry for {wanted}")
    image = None
    if chosen is not None:
        child = await store.get_manifest(chosen.digest)
        image = await _image(store, name, manifest.digest, child, tags)
    return index_fields(name, manifest, image, tags)
