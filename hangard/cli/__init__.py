"""The ``hangard`` command line: it parses arguments and prints; the library
does the work. Each command imports its machinery (httpx, pydantic,
structlog, ...) when it runs, so ``--version`` and shell completion stay fast.

Exit codes: 0 ok, 1 an operation failed, 2 bad usage or input, 130
interrupted (:class:`~hangard.cli._common.ExitCode`).
"""

from __future__ import annotations

import copy
import os
import sys

import typer

from hangard.cli._common import ExitCode, app

# the command modules register themselves on ``app``, in the order --help shows
# isort: off
from hangard.cli import (
    show,
    image,
    desired,
    sync,
    daemon,
    status,
    archive,
    load,
    archive_tools,
    info,
)
# isort: on

__all__ = ["ExitCode", "app", "for_words", "main"]

_COMMANDS = (show, image, desired, sync, daemon, status, archive, load, archive_tools, info)


def main() -> None:
    # pydantic reads every installed distribution's entry points, looking
    # for plugins, before it builds its first model: a twentieth of a start.
    # hangard has none to load; a value the user set stands.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # a fixed name: under ``python -m hangard`` click would call the program
    # "python -m hangard", which breaks the shell completion scripts
    for_words(sys.argv[1:])(prog_name="hangard")


#: The root options that take a value (``--log-level debug``).
_VALUED = ("--log-level", "--log-format")


def for_words(words: list[str]) -> typer.Typer:
    """The app to run ``hangard WORDS`` with: when the words name a command
    (after the root's ``--log-*`` options), one holding only that command or
    group, else the whole app (help, completion, a mistyped name).

    typer makes every command's click parameters before it parses a word:
    a fifteenth of a one-image ``sync --once``, for eighteen commands. The
    named one is all a run of it parses, and prints in its help and errors.
    """
    if "_HANGARD_COMPLETE" in os.environ:  # completion lists the other commands
        return app
    while words and (words[0] in _VALUED or words[0].startswith(tuple(f"{v}=" for v in _VALUED))):
        words = words[2:] if words[0] in _VALUED else words[1:]
    if not words or words[0].startswith("-"):
        return app
    commands = [c for c in app.registered_commands if _name_of(c) == words[0]]
    groups = [g for g in app.registered_groups if _group_name_of(g) == words[0]]
    if not commands and not groups:
        return app
    lean = copy.copy(app)
    lean.registered_commands, lean.registered_groups = commands, groups
    return lean


def _name_of(command: typer.models.CommandInfo) -> str | None:
    if command.name is not None:
        return command.name
    return command.callback.__name__.lower().replace("_", "-") if command.callback else None


def _group_name_of(group: typer.models.TyperInfo) -> str | None:
    for name in (group.name, group.typer_instance and group.typer_instance.info.name):
        if isinstance(name, str):
            return name
    return None
