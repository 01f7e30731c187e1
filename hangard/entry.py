"""The ``hangard`` console script and ``python -m hangard``.

``hangard --version`` answers here, from :mod:`hangard._version` alone:
importing the command line first (typer, click and every command module)
made it 0.27 s where Python itself starts in 0.05 s. Everything else, and every
``--version`` with more words around it, goes to :func:`hangard.cli.main`,
which prints the same line for it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main() -> None:
    # shell completion sets _HANGARD_COMPLETE and answers from the words it
    # is given there, whatever argv holds: click's business
    if sys.argv[1:] == ["--version"] and "_HANGARD_COMPLETE" not in os.environ:
        from hangard._version import __version__

        print(f"hangard {__version__}")
        return
    from hangard.cli import main as cli

    cli()
