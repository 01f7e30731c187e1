"""What the benchmarks share: the repository on ``sys.path`` (for the test
harness's registries and images), a workspace with two local registries, an
environment cut off from the user's credentials, timing a tool run, and
resetting the target between runs.

Import it before ``tests.harness``: importing it puts the repository root on
``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness.registry import Registry, make_plain_registry  # noqa: E402


class Timing(NamedTuple):
    seconds: float
    peak_rss_kib: int
    cpu_seconds: float
    """The tool's own CPU time (user + system)."""
    registry_cpu_seconds: float
    """CPU time the watched registries burned during the run."""


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[tuple[Path, Registry, Registry]]:
    """A temporary directory holding a source and a target registry (plain
    HTTP, started); both stopped and everything removed at the end."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    # measure hangard as installed: byte-compiled (an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would compile every module on every start)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "hangard")], check=True)
    src = make_plain_registry(work / "src")
    dst = make_plain_registry(work / "dst")
    try:
        yield work, src.start(), dst.start()
    finally:
        src.stop()
        dst.stop()
        shutil.rmtree(work, ignore_errors=True)


def bench_env(work: Path, **extra: str) -> dict[str, str]:
    """``os.environ`` with ``HOME`` and the docker/containers auth files under
    ``work`` (an empty auth file), plus ``extra``."""
    auth = work / "auth.json"
    auth.write_text('{"auths": {}}')
    return dict(
        os.environ,
        HOME=str(work),
        DOCKER_CONFIG=str(work / "docker"),
        REGISTRY_AUTH_FILE=str(auth),
        **extra,
    )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _registries_cpu(registries: Sequence[Registry]) -> float:
    return sum(process_cpu_seconds(r.proc.pid) for r in registries if r.proc is not None)


def timed(cmd: list[str], env: dict[str, str], watch: Sequence[Registry] = ()) -> Timing:
    """Run ``cmd``; its wall time, peak RSS and CPU time, and the CPU time the
    registries in ``watch`` used meanwhile. Exits the benchmark with the end of
    its stderr when it fails."""
    registry_cpu = _registries_cpu(watch)
    # stderr goes to a file, not a pipe: a chatty tool (skopeo sync logs every
    # image) would fill a pipe nobody reads while wait4 waits
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            stderr.seek(0)
            err = stderr.read().decode(errors="replace")
            raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {err[-3000:]}")
    return Timing(
        elapsed,
        usage.ru_maxrss,
        usage.ru_utime + usage.ru_stime,
        _registries_cpu(watch) - registry_cpu,
    )


def fresh_target(registry: Registry, home: Path) -> None:
    """Empty ``registry`` (restarted on the same port) and skopeo's blob-info
    cache under ``home``, so no tool can mount or skip anything."""
    registry.stop()
    shutil.rmtree(registry.storage)
    registry.storage.mkdir()
    registry.start()
    shutil.rmtree(home / ".local", ignore_errors=True)


def sync_commands(
    config: Path, skopeo_yaml: Path, dst_host: str, work: Path
) -> dict[str, list[str]]:
    """The two tools' one-shot syncs of the same images: ``hangard sync
    --once`` of ``config`` and ``skopeo sync`` of ``skopeo_yaml`` into
    ``dst_host/skopeo``."""
    return {
        "hangard": [
            str(ROOT / ".venv" / "bin" / "hangard"),
            "--log-level",
            "warning",
            "sync",
            "--once",
            str(config),
            "--no-progress",
            "--failed-file",
            str(work / "failed.txt"),
        ],
        "skopeo": [
            "skopeo",
            "sync",
            "--all",
            "--preserve-digests",
            "--src",
            "yaml",
            "--dest",
            "docker",
            "--dest-tls-verify=false",
            str(skopeo_yaml),
            f"{dst_host}/skopeo",
        ],
    }
