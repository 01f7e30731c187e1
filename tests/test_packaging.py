"""What ships: the wheel and sdist, the lock file, and which hangard the tests run.

``./test.sh`` with ``HANGARD_TEST_INSTALLED=1`` (as ``.ci/run`` runs it)
builds dist/ and installs the wheel, not editable, from ``requirements.lock``
(``scripts/install-wheel.sh``) and names dist/ in ``HANGARD_TEST_DIST``.
Without it these tests build the sdist and wheel themselves.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import hangard
from tests.helpers_dist import dist_dir

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
INSTALLED = os.environ.get("HANGARD_TEST_INSTALLED") == "1"


@pytest.fixture
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dist_dir(tmp_path_factory)


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project: dict[str, object] = tomllib.load(f)["project"]
    return project


def _dependencies() -> list[Requirement]:
    deps = _pyproject()["dependencies"]
    assert isinstance(deps, list)
    return [Requirement(d) for d in deps]


def _package_files() -> set[str]:
    """Every file of the hangard package in the checkout, as wheel paths."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "hangard").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def _only(directory: Path, pattern: str) -> Path:
    (found,) = directory.glob(pattern)
    return found


# --- which hangard the suite runs -------------------------------------------


def test_suite_runs_against_the_expected_install() -> None:
    """With HANGARD_TEST_INSTALLED=1, ``import hangard`` is the wheel in
    site-packages; otherwise it is scripts/setup.sh's editable checkout."""
    module = Path(hangard.__file__).resolve()
    direct_url = importlib.metadata.distribution("hangard").read_text("direct_url.json")
    editable = bool(direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"))
    if INSTALLED:
        purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
        assert module.is_relative_to(purelib), module
        assert not module.is_relative_to(ROOT / "hangard"), module
        assert not editable
    else:
        assert module.is_relative_to(ROOT / "hangard"), module
        assert editable


def test_installed_runtime_dependencies_are_the_locked_ones() -> None:
    """In CI the venv holds exactly the locked versions of hangard's runtime
    dependencies: the suite tests what a locked install gets."""
    if not INSTALLED:
        pytest.skip("the editable venv resolves versions itself; CI installs the lock")
    for name, locked in _lock().items():
        if locked.applies():
            assert importlib.metadata.version(name) == locked.version, name


# --- the wheel and the sdist ------------------------------------------------


def test_wheel_holds_every_package_file(dist: Path) -> None:
    wheel = _only(dist, "hangard-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = zf.read(info).decode()
        metadata = zf.read(info.replace("entry_points.txt", "METADATA")).decode()
    shipped = {n for n in names if n.startswith("hangard/")}
    assert shipped == _package_files()
    assert "hangard/py.typed" in shipped
    assert "hangard = hangard.entry:main" in entry_points
    assert f"Version: {hangard.__version__}\n" in metadata
    assert "License-Expression: Apache-2.0\n" in metadata  # SPDX, not the deprecated table
    requires = {line.split(": ", 1)[1] for line in metadata.splitlines() if "Requires-Dist" in line}
    for dep in _dependencies():
        assert any(Requirement(r) == dep for r in requires), dep


def test_sdist_holds_what_the_wheel_is_built_from(dist: Path) -> None:
    sdist = _only(dist, "hangard-*.tar.gz")
    prefix = sdist.name.removesuffix(".tar.gz") + "/"
    with tarfile.open(sdist) as tf:
        names = {n.removeprefix(prefix) for n in tf.getnames()}
    assert {"pyproject.toml", "README.md", "PKG-INFO"} <= names
    assert _package_files() <= names


# --- requirements.lock ------------------------------------------------------


class Locked(NamedTuple):
    version: str
    hashes: list[str]
    requirement: Requirement

    def applies(self) -> bool:
        """Its environment marker (``; sys_platform == 'win32'``) holds here."""
        marker = self.requirement.marker
        return marker is None or marker.evaluate()


def _lock() -> dict[str, Locked]:
    """name -> what requirements.lock pins."""
    entries: dict[str, Locked] = {}
    logical = ""
    for raw in [*LOCK.read_text().splitlines(), ""]:
        line = raw.split("#", 1)[0].strip()
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        if logical.strip():
            spec, *hashes = logical.split(" --hash=")
            req = Requirement(spec.strip())
            (pin,) = req.specifier
            assert pin.operator == "==", f"{req} is not pinned with =="
            entries[canonicalize_name(req.name)] = Locked(pin.version, hashes, req)
        logical = ""
    return entries


def test_lock_pins_every_entry_with_hashes() -> None:
    lock = _lock()
    assert len(lock) > len(_dependencies())
    for name, locked in lock.items():
        assert locked.hashes, name
        assert all(h.strip().startswith("sha256:") for h in locked.hashes), name
    assert "scripts/lock.sh" in LOCK.read_text().splitlines()[1]


def test_lock_satisfies_pyproject() -> None:
    """Every dependency in pyproject.toml is locked at a version its
    specifier allows, extras included; no test-only package is locked."""
    lock = _lock()
    for dep in _dependencies():
        name = canonicalize_name(dep.name)
        assert name in lock, f"{dep} is not in requirements.lock: run scripts/lock.sh"
        assert dep.specifier.contains(lock[name].version), f"{name}=={lock[name].version} ∉ {dep}"
    assert "httpx-aiohttp" in lock  # the transport (hangard/registry/pools.py)
    assert not {"pytest", "mypy", "ruff", "build"} & lock.keys()


def test_lock_is_closed() -> None:
    """Each locked package's own requirements (as installed here, for this
    platform) are locked too, at versions they allow: pip --require-hashes
    would refuse the lock otherwise."""
    if not INSTALLED:
        pytest.skip("needs the locked versions installed (HANGARD_TEST_INSTALLED=1)")
    lock = _lock()
    for name in [name for name, locked in lock.items() if locked.applies()]:
        for spec in importlib.metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate():
                continue
            dep = canonicalize_name(req.name)
            assert dep in lock, f"{name} needs {req}, which is not locked"
            assert req.specifier.contains(lock[dep].version, prereleases=True), f"{name}: {req}"
