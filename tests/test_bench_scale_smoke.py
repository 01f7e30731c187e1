"""Smoke runs of the start-up and daemon-scale benchmarks (bench/startup.py,
bench/daemon_scale.py) with a few items, so they cannot rot: each runs to
the end against real registries and prints its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.timeout(900)
def test_the_startup_benchmark_runs_and_reports() -> None:
    out = _run("startup.py", "--runs", "1", "--layer-kib", "4", "--import-runs", "1")

    for workload in ("--version", "1 image, warm", "4 repositories, warm", "4 repositories, cold"):
        assert f"\n{workload} " in f"\n{out}", out
    assert out.count("skopeo/hangard = ") == 4
    assert "imports " in out and "heaviest (ms, self time): " in out


@pytest.mark.timeout(900)
def test_the_daemon_scale_benchmark_runs_and_reports() -> None:
    out = _run("daemon_scale.py", "--repos", "2", "--tags", "3", "--cycles", "1", "--scrapes", "1")

    assert "6 items, 1 no-change cycles after the first:" in out
    assert "in sync 6" in out  # the seeded target was in sync: nothing copied
    for figure in ("cycle CPU: ", "RSS after the cycles: ", "GET /metrics: ", "GET /status: "):
        assert figure in out, out
