"""Public surfaces: every package and every module with ``__all__`` keeps it
sorted (the isort-style order ruff's RUF022 uses), free of duplicates and
true; a package's ``__all__`` lists everything its ``__init__`` re-exports;
and the installed package carries its ``py.typed`` marker."""

from __future__ import annotations

import ast
import importlib
import importlib.resources
import pkgutil
import re
import tomllib
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

import hangard

#: Packages that must define ``__all__`` (even an empty one).
PACKAGES = (
    "hangard",
    "hangard.archive",
    "hangard.cli",
    "hangard.config",
    "hangard.copy",
    "hangard.core",
    "hangard.daemon",
    "hangard.registry",
    "hangard.registry.credentials",
    "hangard.stores",
    "hangard.stores.archive",
    "hangard.sync",
)

#: Known failures, to be emptied: module name -> why it is skipped for now.
SKIP: dict[str, str] = {}


def _walk() -> list[str]:
    """Every hangard module except ``__main__`` (importing that runs the CLI)."""
    found = [hangard.__name__]
    for info in pkgutil.walk_packages(hangard.__path__, prefix="hangard."):
        if info.name.rpartition(".")[2] != "__main__":
            found.append(info.name)
    return sorted(found)


ALL_MODULES = _walk()


@cache
def load(name: str) -> ModuleType:
    return importlib.import_module(name)


def is_package(name: str) -> bool:
    return hasattr(load(name), "__path__")


def skip_known(name: str) -> None:
    if name in SKIP:
        pytest.skip(f"{name} is on the SKIP list: {SKIP[name]}")


def dunder_all(name: str) -> list[str]:
    exported = getattr(load(name), "__all__", None)
    assert exported is not None, f"{name} defines no __all__"
    assert isinstance(exported, list | tuple), f"{name}.__all__ is a {type(exported).__name__}"
    assert all(isinstance(n, str) for n in exported), f"{name}.__all__ holds non-strings"
    return list(exported)


def isort_key(name: str) -> tuple[int, list[tuple[int, int | str]]]:
    """ruff RUF022's order: SCREAMING_CASE, then CamelCase, then the rest,
    each in natural order (``x2`` before ``x10``)."""
    if len(name) > 1 and name.isupper():
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    parts: list[tuple[int, int | str]] = [
        (0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name) if p
    ]
    return category, parts


def reexported(name: str) -> set[str]:
    """Public names a package's ``__init__`` imports from hangard or defines:
    not ``_private``, not a submodule, not ``annotations``."""
    module = load(name)
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] == "hangard":
                names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                alias.asname
                for alias in node.names
                if alias.asname and alias.name.startswith("hangard.")
            )
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {
        n
        for n in names
        if not n.startswith("_")
        and n != "annotations"
        and not isinstance(getattr(module, n, None), ModuleType)
    }


WITH_ALL = [m for m in ALL_MODULES if m in PACKAGES or hasattr(load(m), "__all__")]
ALL_PACKAGES = sorted(set(PACKAGES) | {m for m in ALL_MODULES if is_package(m)})


def test_the_walk_finds_the_packages() -> None:
    assert set(PACKAGES) <= set(ALL_MODULES)
    assert set(ALL_PACKAGES) - set(PACKAGES) == set(), "a new package: add it to PACKAGES"
    assert "hangard.core.plan" in WITH_ALL


def test_skip_list_names_real_modules() -> None:
    assert set(SKIP) <= set(ALL_MODULES)


@pytest.mark.parametrize("name", WITH_ALL)
def test_dunder_all_is_sorted_unique_and_true(name: str) -> None:
    skip_known(name)
    exported = dunder_all(name)
    assert exported == sorted(exported, key=isort_key), f"{name}.__all__ is not sorted"
    duplicates = sorted({n for n in exported if exported.count(n) > 1})
    assert not duplicates, f"{name}.__all__ repeats {duplicates}"
    missing = [n for n in exported if not hasattr(load(name), n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


@pytest.mark.parametrize("name", ALL_PACKAGES)
def test_package_dunder_all_lists_every_reexport(name: str) -> None:
    skip_known(name)
    exported = set(dunder_all(name))
    unlisted = sorted(reexported(name) - exported)
    assert not unlisted, f"{name} re-exports {unlisted} without listing them in __all__"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["b", "a", "B", "A", "BB", "AA"], ["AA", "BB", "A", "B", "a", "b"]),
        (["x10", "x2", "x1"], ["x1", "x2", "x10"]),
        (["parse", "Plan", "MAX", "__version__"], ["MAX", "Plan", "__version__", "parse"]),
        (
            ["NO_PLATFORM_MATCH", "BlobOutcome", "Copier"],
            ["NO_PLATFORM_MATCH", "BlobOutcome", "Copier"],
        ),
    ],
)
def test_isort_key(names: list[str], expected: list[str]) -> None:
    assert sorted(names, key=isort_key) == expected


def test_reexport_detection_sees_imports_and_ignores_submodules() -> None:
    # hangard.copy re-exports from its submodules; the submodules themselves
    # (bound on the package by importing them) are not re-exports
    found = reexported("hangard.copy")
    assert {"Copier", "CopyResult", "NO_PLATFORM_MATCH"} <= found
    assert not found & {"engine", "blobs", "stream", "annotations"}


def test_installed_package_has_py_typed() -> None:
    marker = importlib.resources.files("hangard").joinpath("py.typed")
    assert marker.is_file()
    assert marker.read_bytes() == b""


def test_py_typed_is_package_data() -> None:
    # the check above passes in an editable install even if a wheel would
    # leave the marker out; the build configuration decides what ships
    # (tests/test_packaging.py checks the built wheel itself)
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["hangard"]
