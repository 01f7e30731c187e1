"""Every command's ``--help``: each option and argument says what it does,
and no typer range metavar (``<int range>``, ``[x>=1]``) leaks into it.
Walks the real command tree, so a new command is covered without a list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from hangard.cli import app, for_words

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


# ------------------------------------------- a run of one command (for_words)


def _run(runner_app: typer.Typer, words: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(runner_app, words, env={"COLUMNS": "200"}, prog_name="hangard")
    return result.exit_code, result.output


@pytest.mark.parametrize("path", sorted(p for p in COMMANDS if p), ids=" ".join)
def test_a_named_command_alone_has_the_whole_apps_help(path: tuple[str, ...]) -> None:
    """``main`` hands typer an app of only the command the words name
    (:func:`hangard.cli.for_words`): what it prints is the whole app's."""
    alone = for_words([*path, "--help"])

    assert alone is not app and len(alone.registered_commands + alone.registered_groups) == 1
    assert _run(alone, [*path, "--help"]) == _run(app, [*path, "--help"])


def test_a_named_command_alone_has_the_whole_apps_errors() -> None:
    words = ["--log-level", "debug", "sync", "--bogus"]

    code, output = _run(for_words(words), words)

    assert code == 2 and "No such option: --bogus" in output
    assert (code, output) == _run(app, words)


@pytest.mark.parametrize(
    "words",
    [["--log-level", "debug", "sync"], ["--log-format=json", "sync", "x.yaml"], ["sync", "-h"]],
)
def test_the_root_options_go_before_the_command(words: list[str]) -> None:
    alone = typer.main.get_command(for_words(words))

    assert list(getattr(alone, "commands", {})) == ["sync"]


@pytest.mark.parametrize(
    "words",
    [[], ["--help"], ["--version"], ["synk"], ["--log-level", "debug"], ["--", "sync"]],
)
def test_anything_else_runs_the_whole_app(words: list[str]) -> None:
    assert for_words(words) is app


def test_completion_runs_the_whole_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_HANGARD_COMPLETE", "complete_bash")

    assert for_words(["sync"]) is app
