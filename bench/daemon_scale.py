#!/usr/bin/env python3
"""Benchmark: the daemon (``hangard run``) with a large desired state, every
item already in sync.

Seeds REPOS repositories × TAGS tags of one small image on a source and on a
target registry (the same manifest bytes PUT under every tag, its blobs
pushed once per repository: cheap), so the daemon's cycles change nothing.
It then starts the daemon, lets it run CYCLES no-change cycles back to back
(an interval schedule shorter than a cycle), and reports, per cycle:

* the daemon's CPU time (goal at 10,000 items: ≤ 3 s), measured from
  ``/proc`` between two "cycle finished" log lines, and the registries';
* the requests it sent (``hangard_registry_requests_total``) and the CPU per
  request, the floor that request handling sets;
* its RSS after the cycles (goal ≤ 200 MiB) and its peak;
* how long ``GET /metrics`` and ``GET /status`` take (goal for /metrics:
  ≤ 100 ms) and how big they are.

``--profile DIR`` samples the daemon with py-spy (``pip install -e
'.[bench]'``) during the measured cycles and writes DIR/daemon.raw (py-spy's
collapsed stacks, for a flame graph) and DIR/daemon.txt: the self time by
package and by function. Loopback only.

    .venv/bin/python bench/daemon_scale.py --repos 100 --tags 100 --cycles 3
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import ROOT, bench_env, process_cpu_seconds, workspace  # first: ROOT on sys.path

from tests.harness import images
from tests.harness.registry import Registry, free_port

REQUESTS = re.compile(rb"^hangard_registry_requests_total\{[^}]*\} ([0-9.e+]+)$", re.M)


def _tags(count: int) -> list[str]:
    return [f"v{t:04d}" for t in range(count)]


def seed(registry: Registry, repos: list[str], tags: list[str], workers: int = 8) -> None:
    """Every repository holds ``tags``, all one image: its two small blobs
    pushed to each repository, its manifest PUT per tag."""
    image = images.build_image(5, layer_count=1, file_size=256)
    with images.RegistryClient(registry) as client:
        images.push_image(registry, repos[0], image, tags[0], client=client)

    def fill(repo: str) -> None:
        with images.RegistryClient(registry) as c:
            for blob in image.blobs:
                c.push_blob(repo, blob.data)
            for tag in tags:
                c.put_manifest(repo, tag, image.manifest, image.media_type)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fill, repos))


def write_config(
    path: Path, src: Registry, dst: Registry, repos: list[str], tags: list[str]
) -> None:
    path.write_text(
        json.dumps(
            {
                "registries": {
                    src.host: {"http": True, "max_concurrency": 16},
                    dst.host: {"http": True, "max_concurrency": 16},
                },
                # shorter than a cycle: they run back to back
                "defaults": {"targets": ["mirror"], "schedule": "10s"},
                "targets": {"mirror": {"registry": dst.host}},
                "images": [{"source": f"{src.host}/{r}", "tags": tags} for r in repos],
            }
        )
    )


class DaemonRun:
    """``hangard run`` in the background, its JSON log lines followed: the
    daemon's CPU time is read at each "cycle finished"."""

    def __init__(
        self, cmd: list[str], env: dict[str, str], log: Path, registries: tuple[Registry, ...]
    ) -> None:
        self.log = log
        self.registries = registries
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=log.parent,  # not the checkout: PYTHONPATH picks the hangard measured
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            start_new_session=True,
        )
        self.finished: list[tuple[float, float, float, dict[str, object]]] = []
        """Per finished cycle: wall clock, daemon and registries' CPU
        seconds, the log line."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        with self.log.open("rb") as f:
            while not self._stop.is_set():
                line = f.readline()
                if not line:
                    time.sleep(0.01)
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "cycle finished":
                    cpu = process_cpu_seconds(self.proc.pid)
                    registries = sum(
                        process_cpu_seconds(r.proc.pid) for r in self.registries if r.proc
                    )
                    self.finished.append((time.perf_counter(), cpu, registries, event))

    def wait_cycles(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.finished) < count:
            if self.proc.poll() is not None:
                raise SystemExit(f"daemon exited ({self.proc.returncode}): {self.tail()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"no {count} cycles in {timeout:.0f}s: {self.tail()}")
            time.sleep(0.05)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def rss_kib(self) -> tuple[int, int]:
        """Current and peak resident set size."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(values["VmRSS"].split()[0]), int(values["VmHWM"].split()[0])

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)
        self._stop.set()
        self._thread.join(5)


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` to a running ``proc`` and wait for it; kill it after 60 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Sampler:
    """py-spy recording a running process into ``DIR/daemon.raw``."""

    def __init__(self, pid: int, out: Path) -> None:
        exe = shutil.which("py-spy", path=str(ROOT / ".venv" / "bin")) or shutil.which("py-spy")
        if exe is None:
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install -e '.[bench]'")
        out.mkdir(parents=True, exist_ok=True)
        self.raw, self.text = out / "daemon.raw", out / "daemon.txt"
        cmd = [exe, "record", "-p", str(pid), "-r", "100", "-f", "raw", "-o", str(self.raw)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        """Stop sampling; py-spy writes its file on SIGINT."""
        _stop(self.proc, signal.SIGINT)

    def summary(self, top: int = 25) -> str:
        """Self time by package and by function; also written to ``daemon.txt``."""
        if not self.raw.exists():
            assert self.proc.stderr is not None
            return f"py-spy wrote no profile: {self.proc.stderr.read().decode(errors='replace')}"
        by_function: collections.Counter[str] = collections.Counter()
        by_package: collections.Counter[str] = collections.Counter()
        for line in self.raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            leaf = stack.rsplit(";", 1)[-1]
            by_function[leaf] += int(count)
            by_package[_package(leaf)] += int(count)
        total = sum(by_function.values()) or 1
        lines = [
            f"py-spy: {total} samples of the measured cycles ({self.raw})",
            "self time by package:",
        ]
        lines += [f"  {n * 100 / total:5.1f}%  {name}" for name, n in by_package.most_common(top)]
        lines.append("self time by function:")
        lines += [f"  {n * 100 / total:5.1f}%  {name}" for name, n in by_function.most_common(top)]
        text = "\n".join(lines)
        self.text.write_text(text + "\n")
        return text


def _package(frame: str) -> str:
    """``hangard/registry`` or ``aiohttp`` of a py-spy frame ``name (path:line)``."""
    path = frame.rpartition(" (")[2].partition(":")[0].removesuffix(".py")
    parts = path.split("/")
    return "/".join(parts[:2]) if parts[0] == "hangard" and len(parts) > 2 else parts[0]


def _timed_gets(url: str, runs: int) -> tuple[list[float], int, bytes]:
    """``runs`` GETs of ``url``: their wall times, the body size, the last body."""
    times, body = [], b""
    with httpx.Client(timeout=60) as client:
        for _ in range(runs):
            start = time.perf_counter()
            r = client.get(url)
            times.append(time.perf_counter() - start)
            r.raise_for_status()
            body = r.content
    return times, len(body), body


def _requests(metrics: bytes) -> float:
    return sum(float(v) for v in REQUESTS.findall(metrics))


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:.0f} ms ({min(values) * 1e3:.0f}–{max(values) * 1e3:.0f})"


def _cycles(run: DaemonRun) -> Iterator[tuple[float, float, float, object]]:
    """Per cycle after the first: wall seconds, daemon and registries' CPU
    seconds, and the items it found in sync."""
    marks = run.finished
    for (w0, c0, r0, _), (w1, c1, r1, event) in itertools.pairwise(marks):
        yield w1 - w0, c1 - c0, r1 - r0, event.get("in_sync")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=3, help="no-change cycles to measure")
    parser.add_argument("--scrapes", type=int, default=5, help="GETs of /metrics and /status")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="sample the measured cycles with py-spy"
    )
    args = parser.parse_args()

    repos = [f"scale/app-{r:03d}" for r in range(args.repos)]
    tags = _tags(args.tags)
    items = len(repos) * len(tags)
    with workspace("hangard-bench-scale-") as (work, src, dst):
        start = time.perf_counter()
        print(
            f"seeding {len(repos)} repositories × {len(tags)} tags on both registries …", flush=True
        )
        seed(src, repos, tags)
        seed(dst, repos, tags)
        print(f"seeded {items} items in {time.perf_counter() - start:.1f}s", flush=True)
        config = work / "hangard.yaml"
        write_config(config, src, dst, repos, tags)
        port = free_port()
        env = bench_env(
            work,
            HANGARD_STATE_DIR=str(work / "state"),
            HANGARD_CONFIG=str(config),
            HANGARD_METRICS_ADDRESS=f"127.0.0.1:{port}",
            HANGARD_WATCH_CONFIG="false",
            HANGARD_LOG_FORMAT="json",
        )
        python = str(ROOT / ".venv" / "bin" / "python")
        run = DaemonRun([python, "-m", "hangard", "run"], env, work / "daemon.log", (src, dst))
        sampler = None
        try:
            # the first cycle includes the start: not measured
            run.wait_cycles(1, timeout=600)
            if args.profile:
                sampler = Sampler(run.proc.pid, args.profile)
            run.wait_cycles(args.cycles + 1, timeout=600 * (args.cycles + 1))
            if sampler:
                sampler.stop()
            probe = Probe.of(run, f"http://127.0.0.1:{port}", args.scrapes)
        finally:
            if sampler:
                sampler.stop()
            run.stop()
        _report(run, items, probe)
        if sampler:
            print(sampler.summary())


@dataclass(frozen=True)
class Probe:
    """The endpoints' timings and the daemon's memory, after the cycles."""

    metrics_times: list[float]
    metrics_body: bytes
    status_times: list[float]
    status_size: int
    rss_kib: int
    peak_kib: int

    @classmethod
    def of(cls, run: DaemonRun, base: str, scrapes: int) -> Probe:
        metrics_times, _, metrics_body = _timed_gets(f"{base}/metrics", scrapes)
        status_times, status_size, _ = _timed_gets(f"{base}/status", scrapes)
        return cls(metrics_times, metrics_body, status_times, status_size, *run.rss_kib())


def _report(run: DaemonRun, items: int, probe: Probe) -> None:
    cycles = list(_cycles(run))
    requests = _requests(probe.metrics_body)
    per_cycle_requests = requests / len(run.finished) if run.finished else 0.0
    print(f"\n{items} items, {len(cycles)} no-change cycles after the first:")
    for n, (wall, cpu, reg, in_sync) in enumerate(cycles, 2):
        print(
            f"  cycle {n}: {wall:6.2f}s wall, daemon cpu {cpu:5.2f}s, registries cpu {reg:5.2f}s, in sync {in_sync}"
        )
    cpus = [c[1] for c in cycles]
    cpu = statistics.median(cpus)
    print(
        f"cycle CPU: {cpu:.2f}s median ({min(cpus):.2f}–{max(cpus):.2f}) (goal <= 3 s); "
        f"{per_cycle_requests:.0f} requests per cycle, {cpu / max(per_cycle_requests, 1) * 1e3:.3f} ms CPU per request, "
        f"{cpu / items * 1e3:.3f} ms per item"
    )
    rss, peak = probe.rss_kib / 1024, probe.peak_kib / 1024
    print(f"RSS after the cycles: {rss:.0f} MiB, peak {peak:.0f} MiB (goal <= 200 MiB)")
    size = len(probe.metrics_body) / 1024
    print(f"GET /metrics: {_ms(probe.metrics_times)}, {size:.0f} KiB (goal <= 100 ms)")
    print(f"GET /status:  {_ms(probe.status_times)}, {probe.status_size / 1024:.0f} KiB")
    cores = os.cpu_count() or 1
    walls = [c[0] for c in cycles]
    regs = [c[2] for c in cycles]
    floor = (cpu + statistics.median(regs)) / cores
    print(
        f"where the time went: a cycle's wall {statistics.median(walls):.2f}s against a floor of "
        f"{floor:.2f}s (daemon + registries CPU over {cores} cores)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
