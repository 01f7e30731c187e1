"""The ``hangard`` command line: it parses arguments and prints; the library
does the work. Each command imports its machinery (httpx, pydantic,
structlog, ...) when it runs, so ``--version`` and shell completion stay fast.

Exit codes: 0 ok, 1 an operation failed, 2 bad usage or input, 130
interrupted (:class:`~hangard.cli._common.ExitCode`).
"""

from __future__ import annotations

import os

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

__all__ = ["ExitCode", "app", "main"]

_COMMANDS = (show, image, desired, sync, daemon, status, archive, load, archive_tools, info)


def main() -> None:
    # pydantic reads every installed distribution's entry points, looking
    # for plugins, before it builds its first model: a twentieth of a start.
    # hangard has none to load; a value the user set stands.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # a fixed name: under ``python -m hangard`` click would call the program
    # "python -m hangard", which breaks the shell completion scripts
    app(prog_name="hangard")
