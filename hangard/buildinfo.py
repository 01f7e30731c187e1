"""What this hangard is: its version, the git revision of the checkout it
runs from, the Python running it, and the versions of the libraries it
leans on (``hangard version -o json``; the daemon's build info).

The revision is asked of git only when the package sits directly in a
checkout (``hangard/`` beside a ``.git``): an installed wheel has none, and
a virtualenv that happens to live inside some other repository must not
report that repository's commit.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from hangard._version import __version__

__all__ = ["LIBRARIES", "BuildInfo", "build_info", "git_revision"]

#: The distributions whose versions a bug report needs.
LIBRARIES = (
    "aiohttp",
    "apscheduler",
    "cryptography",
    "h2",
    "httpcore",
    "httpx",
    "prometheus-client",
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "pyyaml",
    "rich",
    "semantic-version",
    "structlog",
    "typer",
    "watchfiles",
)

_GIT_TIMEOUT = 5.0


@dataclass(frozen=True)
class BuildInfo:
    """The facts ``hangard version`` reports."""

    version: str
    revision: str | None
    """The checkout's commit, with ``-dirty`` when tracked files changed."""
    python_version: str
    python_implementation: str
    platform: str
    libraries: dict[str, str | None] = field(default_factory=dict)
    """Distribution name to version; ``None`` when it is not installed."""

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "revision": self.revision,
            "python": {
                "version": self.python_version,
                "implementation": self.python_implementation,
            },
            "platform": self.platform,
            "libraries": dict(self.libraries),
        }


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_revision(package_dir: Path | None = None) -> str | None:
    """The commit of the checkout holding ``package_dir`` (default: this
    package), ``…-dirty`` when tracked files differ from it; ``None`` when
    not run from a checkout or git is missing."""
    package_dir = package_dir or Path(__file__).resolve().parent
    root = package_dir.parent
    if not (root / ".git").exists():  # a directory, or a file in a worktree
        return None
    revision = _git(root, "rev-parse", "HEAD")
    if revision is None:
        return None
    changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    return f"{revision}-dirty" if changed else revision


def _version_of(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def build_info() -> BuildInfo:
    return BuildInfo(
        version=__version__,
        revision=git_revision(),
        python_version=platform.python_version(),
        python_implementation=sys.implementation.name,
        platform=platform.platform(),
        libraries={name: _version_of(name) for name in LIBRARIES},
    )
