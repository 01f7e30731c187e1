"""The performance benchmarks still run (issue 14): each on a few items,
printing its ratio lines, so they cannot rot between the times someone runs
them for real. The figures themselves are not checked (CI's machine is
shared); the latency proxy's delay is, as the WAN-like runs rely on it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.harness.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from latency import LatencyProxy  # noqa: E402


def run_bench(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_head_cpu_prints_the_cpu_per_head_and_its_ratio() -> None:
    out = run_bench("head_cpu.py", "--heads", "40", "--in-flight", "4")
    assert "hangard: 40 HEADs over plain HTTP, 4 in flight, uvloop loop" in out
    assert "hangard CPU per HEAD:" in out
    assert "ratio goal/hangard:" in out


def test_head_cpu_measures_httpx_http2_against_hangard_over_tls() -> None:
    """Issue 14's HTTP/2 lever: the same HEADs through httpx's own transport,
    over HTTP/2 and over HTTP/1.1, beside hangard's, on one TLS registry."""
    out = run_bench("head_cpu.py", "--heads", "20", "--in-flight", "4", "--http2")
    assert "hangard: 20 HEADs over TLS" in out
    assert "httpx's transport, HTTP/2: 20 HEADs over TLS" in out
    assert "httpx's transport, HTTP/1.1: 20 HEADs over TLS" in out


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_sync_vs_skopeo_over_a_round_trip_prints_both_ratios() -> None:
    out = run_bench(
        "sync_vs_skopeo.py", "--repos", "2", "--runs", "1", "--layer-kib", "4", "--rtt-ms", "4"
    )
    assert "behind a 4 ms round trip" in out
    assert "cold: hangard" in out and "warm: hangard" in out
    assert out.count("skopeo/hangard =") == 2
    assert "wall floor" in out


def test_latency_proxy_delays_each_way_and_forwards_the_bytes(plain_registry: Registry) -> None:
    host, _, port = plain_registry.host.rpartition(":")
    one_way = 0.05
    with LatencyProxy((host, int(port)), one_way) as proxy, httpx.Client() as client:
        client.get(f"http://{proxy.host}/v2/").raise_for_status()  # connected: a round trip
        started = time.monotonic()
        response = client.get(f"http://{proxy.host}/v2/")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json() == {}
    assert elapsed >= 2 * one_way
