"""A blob spooled to disk, for a transfer whose two ends cannot be open at
once: source and target on one host whose ``max_concurrency`` has no room
for a download and an upload together (see :mod:`hangard.registry.limits`).
The copier downloads the blob into a :class:`Spool` under one slot of the
host, then uploads it from there under a slot again.

The file lives in the system temporary directory (``TMPDIR``; see
:func:`tempfile.gettempdir`) and has no name: it is unlinked as it is made
(:func:`tempfile.TemporaryFile`), so it is gone once closed, on every path
(done, failed, cancelled), and even when the process is killed.

What goes in is the copier's verifying stream (the digest is checked while
spooling, and a mismatch fails before the upload starts), capped at the
blob's declared size, or at the cap for blobs of unknown size. A declared
size the temporary directory has no room for fails before any byte moves.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from typing import IO

from hangard.errors import OperationError

__all__ = ["Spool"]

_READ_SIZE = 1 << 20


class Spool:
    """``async with Spool(what) as spool``: an empty anonymous temporary
    file; :meth:`fill` it, then read it back with :meth:`chunks` (a
    :class:`~hangard.stores.base.BlobStream`). ``what`` names the blob in
    errors."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.size: int | None = None
        self._file: IO[bytes] | None = None

    async def __aenter__(self) -> Spool:
        try:
            # closed (and so deleted) by __aexit__
            self._file = tempfile.TemporaryFile(prefix="hangard-spool-")  # noqa: SIM115
        except OSError as exc:
            raise self._failed(exc) from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def _failed(self, exc: OSError) -> OperationError:
        return OperationError(
            f"could not spool {self.what} to {tempfile.gettempdir()}: {exc.strerror or exc}",
            remedy=(
                "point TMPDIR at a directory with room for the blob, or give the "
                "registry max_concurrency: 2 or more so the blob streams without a spool"
            ),
        )

    async def fill(self, chunks: AsyncIterable[bytes], size: int | None) -> None:
        """Write ``chunks`` (``size`` bytes, when known) to the file."""
        fh = self._file
        assert fh is not None, "fill() outside async with"
        if size is not None:
            free = shutil.disk_usage(tempfile.gettempdir()).free
            if free < size:
                raise self._failed(OSError(f"{size} bytes needed, {free} free"))
        written = 0
        try:
            async for chunk in chunks:
                await asyncio.to_thread(fh.write, chunk)
                written += len(chunk)
            await asyncio.to_thread(fh.flush)
        except OSError as exc:
            raise self._failed(exc) from None
        self.size = written

    async def chunks(self) -> AsyncIterator[bytes]:
        """The spooled bytes, from the start."""
        fh = self._file
        assert fh is not None and self.size is not None, "chunks() before fill()"
        await asyncio.to_thread(fh.seek, 0)
        while chunk := await asyncio.to_thread(fh.read, _READ_SIZE):
            yield chunk
