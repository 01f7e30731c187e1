"""The CLI's progress display (on a TTY): rich bars for blob transfers and
an overall bar of images, fed by the copy engine and the sync cycle."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hangard.sync import CycleHooks

if TYPE_CHECKING:
    from hangard.sync import ItemResult, Planned

__all__ = ["ProgressHooks", "RichProgress"]


class RichProgress:
    """Implements :class:`hangard.copy.Progress` with rich bars."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._items: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def items(self, total: int) -> None:
        """Show an overall bar for ``total`` images to copy."""
        self._items = self._progress.add_task("images", total=total)

    def item_done(self, *_: object) -> None:
        if self._items is not None:
            self._progress.advance(self._items, 1)

    def blob_started(self, digest: str, size: int | None) -> None:
        task = self._tasks.get(digest)
        label = digest.split(":")[-1][:12]
        if task is None:
            self._tasks[digest] = self._progress.add_task(label, total=size)
        else:
            self._progress.reset(task, total=size)

    def blob_advanced(self, digest: str, nbytes: int) -> None:
        task = self._tasks.get(digest)
        if task is not None:
            self._progress.advance(task, nbytes)

    def blob_finished(self, digest: str, outcome: str) -> None:
        task = self._tasks.get(digest)
        if task is not None:
            self._progress.update(task, description=f"{digest.split(':')[-1][:12]} {outcome}")
            self._progress.remove_task(task)
            del self._tasks[digest]


class ProgressHooks(RichProgress, CycleHooks):
    """A sync cycle's display: the overall bar counts the planned items."""

    def planned(self, planned: Planned) -> None:
        self.items(len(planned.plan.actions))

    def item_finished(self, result: ItemResult) -> None:
        self.item_done()

    def progress(self) -> RichProgress:
        return self
