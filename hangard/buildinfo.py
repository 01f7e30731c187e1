"""What this hangard is: its version, the git revision of the checkout it
runs from (``"unknown"`` for an installed wheel, or without git), and the
Python running it. ``hangard_build_info`` exports them."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from pathlib import Path

from hangard import __version__

__all__ = ["UNKNOWN", "python_version", "revision", "version"]

UNKNOWN = "unknown"

#: the repository a checkout of hangard has: the parent of the package
_CHECKOUT = Path(__file__).resolve().parent.parent


def version() -> str:
    return __version__


def python_version() -> str:
    """``3.12.3``: the interpreter's version."""
    return platform.python_version()


@cache
def revision(checkout: Path = _CHECKOUT) -> str:
    """The commit (12 hex digits) of the checkout at ``checkout``, with
    ``-dirty`` when files differ from it; ``"unknown"`` when hangard is not
    run from a git checkout or git cannot tell."""
    if not (checkout / ".git").exists():  # a worktree has a .git file
        return UNKNOWN
    try:
        head = _git(checkout, "rev-parse", "--short=12", "HEAD")
        dirty = _git(checkout, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    if not head:
        return UNKNOWN
    return f"{head}-dirty" if dirty else head


def _git(checkout: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), *args],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout.strip()
