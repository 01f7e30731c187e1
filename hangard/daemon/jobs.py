"""What the scheduler runs and when: one trigger per distinct schedule, and
the watcher that reloads when a config or list file changes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from hangard.core.desired import DesiredState, parse_interval

__all__ = ["schedule_triggers", "watch_files"]

MAX_JITTER = 5.0


def schedule_triggers(state: DesiredState) -> dict[str, IntervalTrigger | CronTrigger]:
    """``{schedule text: trigger}`` for the default schedule and every
    per-entry override. Intervals get up to 5 % (at most 5 s) of jitter, cron
    schedules (UTC, as validated) 5 s, so many hosts do not hit a registry in
    the same second."""
    texts = {state.defaults.schedule} | {e.schedule for e in state.images if e.schedule}
    triggers: dict[str, IntervalTrigger | CronTrigger] = {}
    for text in sorted(texts):
        seconds = parse_interval(text)
        if seconds is not None:
            triggers[text] = IntervalTrigger(
                seconds=seconds, jitter=min(MAX_JITTER, seconds * 0.05)
            )
        else:
            cron = CronTrigger.from_crontab(text, timezone="UTC")
            cron.jitter = int(MAX_JITTER)
            triggers[text] = cron
    return triggers


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
        async for changes in awatch(*dirs, stop_event=stop, debounce=300, step=50, recursive=False):
            if any(_normalise(path) in wanted for _, path in changes):
                await on_change()
                break


def _normalise(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(path))


def _watch_targets(files: Iterable[Path]) -> tuple[set[str], list[str]]:
    wanted = {_normalise(p) for p in files}
    return wanted, sorted({os.path.dirname(p) for p in wanted})
