"""Hangar-format zip archives: the zip container (:mod:`.zipio`)."""

from hangard.stores.archive.zipio import EntryWriter, ZipEntry, ZipReader, ZipWriter

__all__ = ["EntryWriter", "ZipEntry", "ZipReader", "ZipWriter"]
