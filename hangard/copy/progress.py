"""How the copy engine reports progress. The CLI renders it; tests ignore it.

:data:`ITEM_LABEL` names the image a task is copying (``IMAGE:TAG -> TARGET``):
whoever starts a copy sets it, and the blob transfers the copy spawns inherit
it, so a display can give each image in flight its own line.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Protocol

__all__ = ["ITEM_LABEL", "Meter", "NullProgress", "Progress"]

ITEM_LABEL: ContextVar[str | None] = ContextVar("hangard_item_label", default=None)


class Progress(Protocol):
    def blob_started(self, digest: str, size: int | None) -> None: ...
    def blob_advanced(self, digest: str, nbytes: int) -> None: ...
    def blob_finished(self, digest: str, outcome: str) -> None: ...


class NullProgress:
    def blob_started(self, digest: str, size: int | None) -> None:
        pass

    def blob_advanced(self, digest: str, nbytes: int) -> None:
        pass

    def blob_finished(self, digest: str, outcome: str) -> None:
        pass


class Meter:
    """Counts one blob's bytes as they stream, reports them to ``progress``
    and hands them to ``tap``: the ``on_chunk`` of a verified stream."""

    def __init__(
        self, progress: Progress, digest: str, tap: Callable[[bytes], None] | None = None
    ) -> None:
        self.progress = progress
        self.digest = digest
        self.tap = tap
        self.moved = 0

    def __call__(self, chunk: bytes) -> None:
        self.moved += len(chunk)
        self.progress.blob_advanced(self.digest, len(chunk))
        if self.tap is not None:
            self.tap(chunk)
