"""Hangar-format zip archives: the zip container (:mod:`.zipio`)."""

from hangard.stores.archive.zipio import ZIP64_LIMIT, EntryWriter, ZipEntry, ZipReader, ZipWriter

__all__ = ["ZIP64_LIMIT", "EntryWriter", "ZipEntry", "ZipReader", "ZipWriter"]
