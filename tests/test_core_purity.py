"""The pure core (hangard.core) does no I/O: checked on each module's source with ``ast``."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil

import pytest

import hangard.core

FORBIDDEN_MODULES = {
    "aiohttp",
    "anyio",
    "apscheduler",
    "asyncio",
    "ftplib",
    "http.client",
    "httpx",
    "requests",
    "selectors",
    "shutil",
    "socket",
    "ssl",
    "subprocess",
    "tempfile",
    "trio",
    "urllib.request",
}
# Inside hangard, the core may lean only on itself and the error types.
ALLOWED_HANGARD = ("hangard.core", "hangard.errors")
# Calls that open files or run programs, by bare name or as an attribute.
FORBIDDEN_CALLS = {
    "open",
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "fdopen",
    "popen",
    "system",
    "urlopen",
}


def core_module_names() -> list[str]:
    names = [hangard.core.__name__]
    for info in pkgutil.walk_packages(hangard.core.__path__, prefix="hangard.core."):
        names.append(info.name)
    return sorted(names)


CORE_MODULES = core_module_names()


def imported_names(source: str, module: str, *, package: bool = False) -> list[tuple[int, str]]:
    """Every module name ``source`` imports, relative imports resolved against ``module``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            prefix = node.module or ""
            if node.level:
                base = module if package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                prefix = f"{base}.{node.module}" if node.module else base
            found.append((node.lineno, prefix))
            found += [(node.lineno, f"{prefix}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "__import__":
                found.append((node.lineno, "__import__"))
            if isinstance(func, ast.Attribute) and func.attr == "import_module":
                found.append((node.lineno, "importlib.import_module"))
    return found


def is_forbidden(name: str) -> bool:
    if name in ("__import__", "importlib.import_module"):
        return True
    for bad in FORBIDDEN_MODULES:
        if name == bad or name.startswith(bad + "."):
            return True
    if name == "hangard" or name.startswith("hangard."):
        return not any(name == ok or name.startswith(ok + ".") for ok in ALLOWED_HANGARD)
    return False


def test_core_modules_found() -> None:
    assert {"hangard.core.reference", "hangard.core.manifest", "hangard.core.schema1"} <= set(
        CORE_MODULES
    )


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_module_imports_nothing_impure(name: str) -> None:
    module = importlib.import_module(name)
    names = imported_names(inspect.getsource(module), name, package=hasattr(module, "__path__"))
    bad = [f"line {line}: {what}" for line, what in names if is_forbidden(what)]
    assert not bad, f"{name} imports I/O modules: {bad}"


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_module_opens_no_files(name: str) -> None:
    module = importlib.import_module(name)
    tree = ast.parse(inspect.getsource(module))
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if called in FORBIDDEN_CALLS:
                calls.append(f"line {node.lineno}: {called}()")
    assert not calls, f"{name} does I/O: {calls}"


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("import httpx", True),
        ("import asyncio.tasks", True),
        ("from socket import socket", True),
        ("from apscheduler.schedulers import base", True),
        ("import subprocess as sp", True),
        ("from hangard.registry import client", True),
        ("from hangard.core import mediatypes", False),
        ("from hangard.errors import InputError", False),
        ("import json, hashlib, re", False),
        ("from . import mediatypes", False),
        ("from .. import registry", True),
    ],
)
def test_checker_itself(source: str, forbidden: bool) -> None:
    names = imported_names(source, "hangard.core.fake")
    assert any(is_forbidden(name) for _, name in names) is forbidden
