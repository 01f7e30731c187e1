"""The CLI's progress display (on a TTY), fed by the copy engine and the
sync cycle:

* one line per image in flight, ``IMAGE:TAG → TARGET``, with its own bar
  over the bytes its blobs move (an image whose blobs are all present
  already moves nothing and gets no line);
* an overall line counting images, with the bytes moved beside them;
* binary units throughout: MiB and MiB/s.

The display is transient: it leaves no frame behind when it stops. While it
runs, whatever is written to ``sys.stderr`` (the log lines: see
:mod:`hangard.log`) is printed above it, never through it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.filesize import pick_unit_and_suffix
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

from hangard.copy.progress import ITEM_LABEL
from hangard.core.plan import ActionKind
from hangard.sync import CycleHooks

if TYPE_CHECKING:
    from hangard.sync import ItemResult, Planned

__all__ = ["ProgressHooks", "RichProgress", "binary_size"]

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]
_IMAGES = "images"


def binary_size(n: float) -> str:
    """``1.5 MiB``: the one unit system of the display."""
    unit, suffix = pick_unit_and_suffix(int(n), _UNITS, 1024)
    return f"{n / unit:.1f} {suffix}" if unit > 1 else f"{int(n)} B"


def _short(digest: str) -> str:
    return digest.split(":")[-1][:12]


class _Amount(ProgressColumn):
    """``3/10 images, 120.0 MiB`` on the overall line; ``12.0 MiB/40.0 MiB``
    on an image's."""

    def render(self, task: Task) -> Text:
        if task.fields.get("kind") == _IMAGES:
            moved = binary_size(task.fields.get("moved", 0))
            return Text(f"{int(task.completed)}/{int(task.total or 0)} images, {moved}")
        total = "?" if task.total is None else binary_size(task.total)
        return Text(f"{binary_size(task.completed)}/{total}")


class _Speed(ProgressColumn):
    def render(self, task: Task) -> Text:
        if task.fields.get("kind") == _IMAGES or not task.speed:
            return Text("")
        return Text(f"{binary_size(task.speed)}/s")


class RichProgress:
    """Implements :class:`hangard.copy.Progress` with rich bars. Blobs are
    counted on the line of the image that copies them (:data:`ITEM_LABEL`);
    a blob no image claims gets a line of its own."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _Amount(),
            _Speed(),
            console=console or Console(stderr=True),
            transient=True,
            redirect_stderr=True,
            redirect_stdout=False,
        )
        self._lines: dict[str, TaskID] = {}
        """Each line by its label: an image in flight, or a lone blob's digest."""
        self._blobs: dict[str, str] = {}
        """Each blob in flight to the label of its line."""
        self._items: TaskID | None = None

    def __enter__(self) -> RichProgress:
        from hangard.log import set_log_sink

        self._progress.start()
        set_log_sink(self._log_line)
        return self

    def _log_line(self, text: str) -> None:
        # whole, unwrapped (the terminal wraps it), above the bars
        for line in text.rstrip("\n").split("\n"):
            self._progress.console.print(Text.from_ansi(line), soft_wrap=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from hangard.log import set_log_sink

        set_log_sink(None)
        self._progress.stop()

    def items(self, total: int) -> None:
        """Show an overall line for ``total`` images to copy."""
        self._items = self._progress.add_task("images", total=total, kind=_IMAGES, moved=0)

    def item_done(self, label: str | None = None) -> None:
        if self._items is not None:
            self._progress.advance(self._items, 1)
        task = self._lines.pop(label, None) if label else None
        if task is not None:
            self._progress.remove_task(task)

    def blob_started(self, digest: str, size: int | None) -> None:
        label = ITEM_LABEL.get() or _short(digest)
        self._blobs[digest] = label
        task = self._lines.get(label)
        if task is None:
            shown = label.replace(" -> ", " → ")
            self._lines[label] = self._progress.add_task(shown, total=size or None)
        elif size:
            total = self._progress.tasks[self._index(task)].total or 0
            self._progress.update(task, total=total + size)

    def blob_advanced(self, digest: str, nbytes: int) -> None:
        task = self._lines.get(self._blobs.get(digest, ""))
        if task is not None:
            self._progress.advance(task, nbytes)
        if self._items is not None:
            overall = self._progress.tasks[self._index(self._items)]
            self._progress.update(self._items, moved=overall.fields["moved"] + nbytes)

    def blob_finished(self, digest: str, outcome: str) -> None:
        label = self._blobs.pop(digest, None)
        if label == _short(digest):
            task = self._lines.pop(label, None)  # a lone blob's line ends with it
            if task is not None:
                self._progress.remove_task(task)

    def _index(self, task: TaskID) -> int:
        return next(i for i, t in enumerate(self._progress.tasks) if t.id == task)


class ProgressHooks(RichProgress, CycleHooks):
    """A sync cycle's display: the overall line counts the images to copy."""

    def planned(self, planned: Planned) -> None:
        self.items(sum(1 for a in planned.plan.actions if a.kind is ActionKind.COPY))

    def item_finished(self, result: ItemResult) -> None:
        if result.action.kind is ActionKind.COPY:
            from hangard.sync.execution import item_name

            self.item_done(item_name(result.action))

    def progress(self) -> RichProgress:
        return self
