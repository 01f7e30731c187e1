"""Watching the config file and the list files it reads, to reload when one
of them changes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

__all__ = ["watch_files"]


async def watch_files(
    files: Callable[[], Iterable[Path]],
    on_change: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
) -> None:
    """Call ``on_change`` when one of ``files()`` changes, until ``stop``.

    The directories are watched, not the files: editors (and ``git
    checkout``) replace a file by renaming, which a watch on the file itself
    would miss. After each change the list of files is read again, since a
    new config may name other list files.
    """
    from watchfiles import awatch

    while not stop.is_set():
        wanted, dirs = _watch_targets(files())
        if not dirs:
            return
        # only the wanted paths count: anything else in those directories (a
        # log file written ten times a second) must not even wake us up
        only = _WantedPaths(wanted)
        async for _changes in awatch(
            *dirs, watch_filter=only, stop_event=stop, debounce=300, step=50, recursive=False
        ):
            await on_change()
            break


class _WantedPaths:
    """A ``watch_filter``: true for the files we read, false for the rest."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted

    def __call__(self, _change: object, path: str) -> bool:
        return _normalise(path) in self.wanted


def _normalise(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(path))


def _watch_targets(files: Iterable[Path]) -> tuple[set[str], list[str]]:
    wanted = {_normalise(p) for p in files}
    return wanted, sorted({os.path.dirname(p) for p in wanted})
