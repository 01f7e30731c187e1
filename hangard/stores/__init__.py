"""Image stores: the places images live, behind one interface
(:class:`ImageStore`): a registry repository, an OCI image layout and an
image in a Hangar zip archive (:mod:`hangard.stores.archive`)."""

from hangard.stores.base import BlobSource, BlobStream, ImageStore
from hangard.stores.oci import OciLayoutStore
from hangard.stores.open import open_store
from hangard.stores.registry import RegistryStore

__all__ = [
    "BlobSource",
    "BlobStream",
    "ImageStore",
    "OciLayoutStore",
    "RegistryStore",
    "open_store",
]
