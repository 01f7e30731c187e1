"""``hangard version -o json`` and :mod:`hangard.buildinfo`: the version,
the checkout's git revision (only for a package sitting in a checkout), the
Python and the libraries, as the subprocess prints them."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

import hangard as hangard_package
from hangard import __version__
from hangard.buildinfo import LIBRARIES, git_revision
from tests.helpers_cli import Hangard


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_version_json_names_version_python_and_libraries(hangard: Hangard) -> None:
    proc = hangard("version", "-o", "json")

    assert proc.code == 0, proc.err
    doc = json.loads(proc.out)
    assert doc["version"] == __version__
    assert doc["python"]["version"] == platform.python_version()
    assert set(doc["libraries"]) == set(LIBRARIES)
    assert doc["libraries"]["httpx"] == metadata.version("httpx")
    assert doc["libraries"]["pydantic"] == metadata.version("pydantic")


def test_version_json_revision_is_the_checkouts_head(hangard: Hangard) -> None:
    root = _package_dir().parent
    proc = hangard("version", "-o", "json")

    revision = json.loads(proc.out)["revision"]
    if not (root / ".git").exists():  # run against an installed wheel
        assert revision is None
    else:
        assert revision.removesuffix("-dirty") == _git(root, "rev-parse", "HEAD")


def _package_dir() -> Path:
    return Path(hangard_package.__file__).resolve().parent


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git repository holding a package ``pkg/`` at its top."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    return tmp_path


def test_revision_of_a_clean_then_changed_checkout(checkout: Path) -> None:
    head = _git(checkout, "rev-parse", "HEAD")

    clean = git_revision(checkout / "pkg")
    (checkout / "pkg" / "mod.py").write_text("x = 2\n")
    dirty = git_revision(checkout / "pkg")

    assert clean == head
    assert dirty == f"{head}-dirty"


def test_no_revision_outside_a_checkout_or_nested_in_another_repository(
    checkout: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    nested = checkout / "venv" / "site-packages" / "pkg"
    nested.mkdir(parents=True)
    bare = tmp_path_factory.mktemp("wheel") / "pkg"
    bare.mkdir()

    assert git_revision(nested) is None  # site-packages is no checkout root
    assert git_revision(bare) is None
