"""What a piece of Python asks the kernel, seen by ``strace``: the only
honest witness that a directory is fsynced after a rename (no test can pull
the power cord)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_CALLS = "trace=openat,fsync,fdatasync,rename,renameat,renameat2"


def syscalls(code: str, log: Path) -> list[str]:
    """The file-sync syscalls of ``python -c code`` (all threads), one a line."""
    subprocess.run(
        ["strace", "-f", "-qq", "-e", _CALLS, "-o", str(log), sys.executable, "-c", code],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return [line.split(None, 1)[1] for line in log.read_text().splitlines() if " " in line]


def fsynced_after_rename(calls: list[str], target: Path) -> bool:
    """Whether the rename onto ``target`` is followed by an fsync of an fd
    opened on ``target``'s directory."""
    renames = [i for i, c in enumerate(calls) if c.startswith("rename") and f'"{target}"' in c]
    if not renames:
        return False
    opened = re.compile(
        rf'^openat\(AT_FDCWD, "{re.escape(str(target.parent))}", .*O_DIRECTORY.*= (\d+)$'
    )
    fds: set[str] = set()
    for call in calls[renames[-1] + 1 :]:
        match = opened.match(call)
        if match:
            fds.add(match.group(1))
        sync = re.match(r"^f(?:data)?sync\((\d+)\)\s+= 0$", call)
        if sync and sync.group(1) in fds:
            return True
    return False
