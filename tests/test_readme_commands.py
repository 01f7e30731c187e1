"""Every ``hangard`` command the documentation shows parses: its
subcommands and options exist as written.

Each command line in a fenced shell block of the README files is run
through the real CLI with ``--help`` appended: click stops at an unknown
command or option before the help is printed, so a renamed flag or a
removed subcommand fails here, while a correct line prints its command's
help and exits 0. (What the commands *do* is tested elsewhere, against real
registries; ``./demo.sh`` runs the air-gap workflow end to end.)
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hangard.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "config" / "README.md",
    ROOT / "deploy" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
FENCE = re.compile(r"^```(sh|bash|console|shell)\s*\n(.*?)^```", re.M | re.S)
OPERATOR_CHARS = set("|&;<>()")


def shell_lines(text: str) -> Iterator[str]:
    """The commands of the shell blocks in ``text``, continuations joined."""
    for block in FENCE.finditer(text):
        body = block.group(2).replace("\\\n", " ")
        for line in body.splitlines():
            line = line.strip()
            yield line.removeprefix("$ ").removeprefix("sudo ")


def hangard_commands(line: str) -> Iterator[list[str]]:
    """The ``hangard`` invocations in one shell line, as argument lists
    (pipes, lists and redirections cut them; ``VAR=value`` may lead)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:
        return
    command: list[str] | None = None
    first = True  # at the start of a command
    for word, after in pairwise([*words, ";", ";"]):
        if set(word) <= OPERATOR_CHARS:
            if command is not None:
                yield command
            command, first = None, True
        elif word.isdigit() and set(after) <= OPERATOR_CHARS and ">" in after:
            continue  # the 2 of 2>&1
        elif command is not None:
            command.append(word)
        elif first and re.fullmatch(r"[A-Z_]+=\S*", word):
            continue
        elif first and Path(word).name == "hangard":
            command = []
        else:
            first = False


def documented() -> list[tuple[str, list[str]]]:
    found = []
    for path in DOCUMENTS:
        for line in shell_lines(path.read_text()):
            for args in hangard_commands(line):
                found.append((f"{path.relative_to(ROOT)}: {line}", args))
    return found


COMMANDS = documented()


def test_the_documents_show_commands() -> None:
    # the README alone shows dozens; a broken extractor would find none
    assert len(COMMANDS) > 30
    assert any(args[:1] == ["save"] for _, args in COMMANDS)
    assert any(args[:2] == ["archive", "verify"] for _, args in COMMANDS)


@pytest.mark.parametrize(("where", "args"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_each_documented_command_parses(where: str, args: list[str]) -> None:
    if "--version" in args or not args:
        result = CliRunner().invoke(app, args or ["--help"], prog_name="hangard")
    else:
        result = CliRunner().invoke(app, [*args, "--help"], prog_name="hangard")
    assert result.exit_code == 0, f"{where}\n{result.output}"
    assert "Usage" in result.output or "hangard" in result.output
