"""Peak RSS of a command, measured in a subprocess.

Linux folds the memory high-water mark of the process that forks into the
child's ``ru_maxrss`` at exec, so a child of a big pytest process would
report pytest's peak. A small launcher runs the command and measures it with
``os.wait4``; the ``ru_maxrss`` then only covers the launcher's few MiB and
the command itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

RSS_LIMIT_KIB = 100 * 1024
"""The bound hangard keeps to while it streams: 100 MiB."""

LAUNCHER = """
import json, os, subprocess, sys
report, *command = sys.argv[1:]
proc = subprocess.Popen(command)
_, status, usage = os.wait4(proc.pid, 0)
with open(report, "w") as f:
    json.dump({"exit_code": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}, f)
"""


@dataclass(frozen=True)
class Measured:
    exit_code: int
    maxrss_kib: int
    stdout: str
    stderr: str


def peak_rss(
    command: Sequence[str], workdir: Path, *, env: Mapping[str, str] | None = None
) -> Measured:
    """Run ``command`` under the launcher; its exit code, peak RSS and output."""
    report, out, err = workdir / "rusage.json", workdir / "stdout", workdir / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        launcher = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(report), *command],
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            timeout=120,
            check=False,
        )
    assert launcher.returncode == 0, err.read_text()
    doc = json.loads(report.read_text())
    return Measured(int(doc["exit_code"]), int(doc["maxrss_kib"]), out.read_text(), err.read_text())
