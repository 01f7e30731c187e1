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
from hangard.settings import load_settings

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


def _gauge(daemon: Daemon, name: str) -> float | None:
    return daemon.metrics.registry.get_sample_value(name)


async def test_no_good_cycle_yet_counts_from_start_or_the_state_file(
    daemon: Daemon, tmp_path: Path
) -> None:
    """A fresh daemon reports its start as the last good cycle (so "no good
    cycle for 2h" cannot fire right after a start); a restarted one reports
    the last good cycle its state file remembers."""
    name = "hangard_last_successful_cycle_timestamp_seconds"
    assert _gauge(daemon, name) == pytest.approx(daemon.started_at)

    daemon.history.last_good_cycle = 1_700_000_000.0
    daemon.history.save()
    restarted = Daemon(daemon.settings)

    assert _gauge(restarted, name) == 1_700_000_000.0
