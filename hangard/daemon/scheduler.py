"""When cycles run: one apscheduler job per distinct schedule, each with
``max_instances=1``, ``coalesce=True`` and a small jitter; the first cycle
of every job at start; a reload that cycles at once, or right after the
job's running cycle; and a drain with a grace period at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import TypeAlias

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from hangard.core.schedule import parse_interval

__all__ = ["CycleScheduler", "schedule_triggers"]

log = structlog.get_logger("hangard.daemon")

MAX_JITTER = 5.0

Trigger: TypeAlias = IntervalTrigger | CronTrigger
CycleRunner = Callable[[frozenset[str]], Awaitable[object]]


def schedule_triggers(schedules: Iterable[str]) -> dict[str, Trigger]:
    """``{schedule text: trigger}``. Intervals get up to 5 % (at most 5 s)
    of jitter, cron schedules (UTC, as validated) 5 s, so many hosts do not
    hit a registry in the same second."""
    triggers: dict[str, Trigger] = {}
    for text in sorted(schedules):
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


class CycleScheduler:
    """Runs ``cycle(frozenset({schedule}))`` on each schedule's trigger."""

    def __init__(self, cycle: CycleRunner, stop: asyncio.Event) -> None:
        self._cycle = cycle
        self._stop = stop
        self.scheduler = AsyncIOScheduler()
        self.inflight: set[asyncio.Task[object]] = set()
        self.pending_first: set[str] = set()
        self.first_cycle_done = asyncio.Event()
        self._running: set[str] = set()  # schedules whose job is in a cycle
        self._rerun: set[str] = set()  # ... and should cycle once more after it

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        self.scheduler.start()

    def schedule(self, schedules: Iterable[str], *, run_now: bool) -> None:
        """Replace the jobs by one per schedule; ``run_now`` cycles each at once."""
        triggers = schedule_triggers(schedules)
        for job in self.scheduler.get_jobs():
            job.remove()
        self.pending_first = set(triggers) if not self.first_cycle_done.is_set() else set()
        for text, trigger in triggers.items():
            when: dict[str, object] = {}
            if run_now and text in self._running:
                # apscheduler would skip a run while the last one goes on (and
                # the reload would wait for the next tick): the running job
                # cycles once more instead
                self._rerun.add(text)
            elif run_now:
                when["next_run_time"] = datetime.now(UTC)
            self.scheduler.add_job(
                self._job,
                trigger,
                args=[text],
                id=f"sync:{text}",
                name=f"sync every {text}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                replace_existing=True,
                **when,
            )

    def next_runs(self) -> dict[str, float | None]:
        """``{schedule: epoch seconds of its next cycle}``; ``None`` while
        nothing is due (the scheduler stopped or paused)."""
        paused = self.scheduler.state != STATE_RUNNING
        runs: dict[str, float | None] = {}
        for job in self.scheduler.get_jobs():
            when = job.next_run_time
            runs[job.args[0]] = None if paused or when is None else when.timestamp()
        return runs

    def is_cycling(self, schedule: str) -> bool:
        """A cycle of ``schedule`` runs now."""
        return schedule in self._running

    async def _job(self, schedule: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.inflight.add(task)
        self._running.add(schedule)
        try:
            await self._cycle(frozenset({schedule}))
            while schedule in self._rerun and not self._stop.is_set():
                self._rerun.discard(schedule)
                await self._cycle(frozenset({schedule}))
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise
            # the drain cancelled it at shutdown: an ending, not an error for
            # apscheduler to log with a traceback
        finally:
            self._running.discard(schedule)
            self._rerun.discard(schedule)
            self.inflight.discard(task)
            self.pending_first.discard(schedule)
            if not self.pending_first:
                self.first_cycle_done.set()

    async def drain(self, grace: float) -> None:
        """Stop scheduling, let running cycles finish for ``grace`` seconds,
        then cancel them."""
        # pause, not shutdown: apscheduler's AsyncIOExecutor.shutdown() cancels
        # running jobs at once, which would skip the grace period
        if self.scheduler.running:
            self.scheduler.pause()
        if self.inflight:
            _, pending = await asyncio.wait(set(self.inflight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("abandoning copies after the grace period", count=len(pending))
                await asyncio.wait(pending, timeout=10)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
