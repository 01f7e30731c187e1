"""The daemon's scheduler jobs, built in process from a config: one job per
distinct schedule, with the trigger its text asks for. No registry is
contacted and the scheduler is never started."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from apscheduler.job import Job
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from hangard.daemon import Daemon
from hangard.daemon.recorder import Recorder
from hangard.settings import load_settings
from hangard.sync import CycleHooks, SyncReport

CRON = "0 */6 * * *"


@pytest.fixture
async def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Daemon]:
    """A daemon whose config has the default schedule ``15m`` and one entry on
    ``0 */6 * * *``, loaded; its client is closed at teardown."""
    for name in [n for n in os.environ if n.startswith("HANGARD_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "hangard.yaml"
    doc = {
        "version": 1,
        "defaults": {"targets": ["mirror"], "schedule": "15m"},
        "targets": {"mirror": {"registry": "mirror.example", "prefix": "m"}},
        "images": [
            {"source": "docker.io/library/alpine", "tags": ["3.20"]},
            {"source": "quay.io/team/app", "tags": ["v1"], "schedule": CRON},
            {"source": "quay.io/team/other", "tags": ["v1"], "schedule": "15m"},
        ],
    }
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    settings = load_settings(
        config=config, state_dir=tmp_path / "state", metrics_address="127.0.0.1:0"
    )
    made = Daemon(settings)
    await made.generations.load()
    yield made
    await made.generations.close()


def jobs_by_schedule(daemon: Daemon) -> dict[str, Job]:
    return {job.args[0]: job for job in daemon.jobs.scheduler.get_jobs()}


def schedule(daemon: Daemon, *, run_now: bool) -> None:
    gen = daemon.generations.current
    assert gen is not None
    daemon.jobs.schedule(gen.config.state.schedules, run_now=run_now)


async def test_one_job_per_distinct_schedule(daemon: Daemon) -> None:
    schedule(daemon, run_now=False)

    jobs = jobs_by_schedule(daemon)
    assert sorted(jobs) == sorted(["15m", CRON])
    for text, job in jobs.items():
        assert job.id == f"sync:{text}"
        assert job.max_instances == 1
        assert job.coalesce is True
        assert job.misfire_grace_time is None
    assert daemon.jobs.pending_first == {"15m", CRON}

    interval = jobs["15m"].trigger
    assert isinstance(interval, IntervalTrigger)
    assert interval.interval == timedelta(seconds=900)
    assert interval.jitter == 5.0  # 5 % of 15 min is 45 s, capped at 5 s

    cron = jobs[CRON].trigger
    assert isinstance(cron, CronTrigger)
    assert str(cron.timezone) == "UTC"
    fields = {f.name: str(f) for f in cron.fields}
    assert (fields["minute"], fields["hour"]) == ("0", "*/6")
    assert fields["day"] == fields["month"] == fields["day_of_week"] == "*"
    assert cron.jitter == 5
    six = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)
    fires = cron.get_next_fire_time(None, datetime(2026, 1, 1, 1, 30, tzinfo=UTC))
    assert six <= fires <= six + timedelta(seconds=5)  # six o'clock UTC, plus the jitter


async def test_run_now_starts_every_job_at_once_and_rescheduling_replaces_them(
    daemon: Daemon,
) -> None:
    schedule(daemon, run_now=False)
    before = datetime.now(UTC)
    schedule(daemon, run_now=True)

    jobs = jobs_by_schedule(daemon)
    assert sorted(jobs) == sorted(["15m", CRON])  # replaced, not added twice
    for job in jobs.values():
        assert before <= job.next_run_time <= before + timedelta(seconds=5)


def _gauge(daemon: Daemon, name: str, **labels: str) -> float | None:
    return daemon.metrics.registry.get_sample_value(name, labels)


LAST_GOOD = "hangard_last_successful_cycle_timestamp_seconds"


def export_schedules(daemon: Daemon) -> None:
    gen = daemon.generations.current
    assert gen is not None
    daemon._export_schedules(gen.config.state.schedules)


async def test_no_good_cycle_yet_counts_from_start_or_the_state_file(
    daemon: Daemon, tmp_path: Path
) -> None:
    """A fresh daemon reports its start as each schedule's last good cycle
    (so "no good cycle for 2h" cannot fire right after a start); a restarted
    one reports what its state file remembers, per schedule."""
    export_schedules(daemon)
    for schedule_ in ("15m", CRON):
        assert _gauge(daemon, LAST_GOOD, schedule=schedule_) == pytest.approx(daemon.started_at)

    daemon.history.good_cycle(["15m"], now=1_700_000_000.0)
    daemon.history.save()
    restarted = Daemon(daemon.settings)
    await restarted.generations.load()
    try:
        export_schedules(restarted)
        assert _gauge(restarted, LAST_GOOD, schedule="15m") == 1_700_000_000.0
        assert _gauge(restarted, LAST_GOOD, schedule=CRON) == pytest.approx(restarted.started_at)
        assert _gauge(restarted, LAST_GOOD) is None  # no series without a schedule
    finally:
        await restarted.generations.close()


async def test_a_clean_schedule_does_not_hide_a_failing_one(daemon: Daemon) -> None:
    """Item 15: a clean cycle refreshes its own schedule's series only."""
    export_schedules(daemon)
    before = _gauge(daemon, LAST_GOOD, schedule=CRON)
    clean = SyncReport(results=(), duration=0.0, bytes_moved=0)
    Recorder(daemon.history, daemon.metrics, complete=False, schedules=frozenset({"15m"})).finished(
        clean
    )
    Recorder(daemon.history, daemon.metrics, complete=False, schedules=frozenset({CRON})).finished(
        None
    )
    assert _gauge(daemon, LAST_GOOD, schedule="15m") == daemon.history.last_good_cycles["15m"]
    assert _gauge(daemon, LAST_GOOD, schedule=CRON) == before
    assert CRON not in daemon.history.last_good_cycles


async def test_a_cycle_past_its_deadline_is_cancelled_counted_and_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 8 (daemon part): ``HANGARD_CYCLE_TIMEOUT`` cancels a cycle that
    hangs; it counts as a failed cycle and in ``hangard_sync_cycle_timeouts_total``."""
    import asyncio

    from hangard.daemon import service

    config = tmp_path / "hangard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "defaults": {"targets": ["mirror"], "schedule": "15m"},
                "targets": {"mirror": {"registry": "mirror.example", "prefix": "m"}},
                "images": [{"source": "docker.io/library/alpine", "tags": ["3.20"]}],
            }
        )
    )
    monkeypatch.setenv("HANGARD_CYCLE_TIMEOUT", "0.2")
    settings = load_settings(config=config, state_dir=tmp_path / "state")
    assert settings.cycle_timeout == 0.2
    hang = asyncio.Event()
    finished: list[object] = []

    async def stuck(*_args: object, hooks: CycleHooks, **_kw: object) -> object:
        try:
            if not hang.is_set():
                await asyncio.sleep(3600)
            raise AssertionError("not reached")
        finally:
            hooks.finished(None)
            finished.append(1)

    monkeypatch.setattr(service, "run_cycle", stuck)
    daemon = Daemon(settings)
    await daemon.generations.load()
    try:
        export_schedules(daemon)
        assert await asyncio.wait_for(daemon.cycle(frozenset({"15m"})), 5) is False
        assert finished == [1]  # cancelled cleanly: its finally ran
        assert _gauge(daemon, "hangard_sync_cycle_timeouts_total", schedule="15m") == 1
        assert _gauge(daemon, "hangard_sync_cycles_total", result="failure") == 1
        assert await asyncio.wait_for(daemon.cycle(frozenset({"15m"})), 5) is False
        assert _gauge(daemon, "hangard_sync_cycle_timeouts_total", schedule="15m") == 2
    finally:
        await daemon.generations.close()
