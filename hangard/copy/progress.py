"""How the copy engine reports progress. The CLI renders it; tests ignore it."""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullProgress", "Progress"]


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
