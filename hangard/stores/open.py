"""The store a reference names: its transport picks it."""

from __future__ import annotations

from pathlib import Path

from hangard.core.reference import ImageReference
from hangard.core.transports import ArchiveReference, StoreReference
from hangard.errors import InputError
from hangard.registry.client import RegistryClient
from hangard.stores.base import ImageStore
from hangard.stores.oci import OciLayoutStore
from hangard.stores.registry import RegistryStore

__all__ = ["open_store"]


def open_store(ref: StoreReference, client: RegistryClient | None) -> ImageStore:
    """The store behind ``ref``; a registry reference needs ``client``."""
    if isinstance(ref, ImageReference):
        if client is None:
            raise ValueError(f"{ref} is a registry reference: a RegistryClient is needed")
        return RegistryStore.at(client, ref)
    if isinstance(ref, ArchiveReference):
        raise InputError(f"{ref}: Hangar archives are not supported here yet")
    return OciLayoutStore(Path(ref.directory))
