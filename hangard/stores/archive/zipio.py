"""The zip container of Hangar-format archives, and nothing of images:
:class:`ZipReader` for a finished archive (one file or parts),
:class:`ZipWriter` to write, resume or append to one.

Format rules: entries are stored (no compression), never directories,
with UTF-8 names that cannot point outside the archive; ZIP64 records
wherever a size, offset or count needs them; no data descriptors. Parts
are a byte split of the one zip stream (``cat FILE.zip.0* > FILE.zip``
gives the whole archive). Errors are :class:`hangard.errors.ArchiveError`,
naming the file and the entry.

The API is blocking; callers run it in threads. The thresholds live in
:mod:`~hangard.stores.archive.zipformat` (``ZIP64_LIMIT``,
``ZIP64_COUNT_LIMIT``), read at call time: a test lowers them there
to exercise ZIP64 without writing 4 GiB.
"""

from hangard.stores.archive.zipformat import ZipEntry
from hangard.stores.archive.zipread import ZipReader
from hangard.stores.archive.zipwrite import EntryWriter, ZipWriter

__all__ = ["EntryWriter", "ZipEntry", "ZipReader", "ZipWriter"]
