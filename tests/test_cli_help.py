"""Every command's ``--help``: each option and argument says what it does,
and no typer range metavar (``<int range>``, ``[x>=1]``) leaks into it.
Walks the real command tree, so a new command is covered without a list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from hangard.cli import app

RANGE_MARKS = ("<int range>", "<float range>", "[x>=", "[x<=", "<=x<=", "[x>", "[x<")


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


COMMANDS = dict(_walk(typer.main.get_command(app)))


def test_the_walk_sees_the_commands() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"", "copy", "sync", "run", "version", "schema", "archive ls"} <= names


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "hangard")
def test_every_parameter_has_help(path: tuple[str, ...]) -> None:
    missing = [
        param.name
        for param in COMMANDS[path].params
        if not getattr(param, "hidden", False) and not getattr(param, "help", None)
    ]
    assert missing == []


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "hangard")
def test_help_shows_no_range_metavar(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    assert [m for m in RANGE_MARKS if m in result.output] == []


def test_tags_latest_says_pre_releases_count() -> None:
    result = CliRunner().invoke(app, ["tags", "--help"], env={"COLUMNS": "200"})

    text = " ".join(result.output.split())  # as wrapped for any width
    assert "pre-releases count unless --semver or --exclude drops them" in text
