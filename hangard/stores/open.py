"""The store a reference names: its transport picks it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hangard.core.reference import ImageReference
from hangard.core.transports import ArchiveReference, StoreReference
from hangard.registry.client import RegistryClient
from hangard.stores.base import ImageStore
from hangard.stores.oci import OciLayoutStore
from hangard.stores.registry import RegistryStore

if TYPE_CHECKING:
    from hangard.stores.archive.opened import ArchiveSet

__all__ = ["open_store"]


def open_store(
    ref: StoreReference, client: RegistryClient | None, archives: ArchiveSet | None = None
) -> ImageStore:
    """The store behind ``ref``; a registry reference needs ``client``, an
    archive one the run's ``archives`` (which commits them at its end)."""
    if isinstance(ref, ImageReference):
        if client is None:
            raise ValueError(f"{ref} is a registry reference: a RegistryClient is needed")
        return RegistryStore.at(client, ref)
    if isinstance(ref, ArchiveReference):
        if archives is None:
            raise ValueError(f"{ref} is an archive reference: an ArchiveSet is needed")
        from hangard.stores.archive.store import ArchiveStore

        return ArchiveStore(archives.get(ref.path), ref.image)
    return OciLayoutStore(Path(ref.directory))
