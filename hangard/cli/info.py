"""``hangard version``: what this hangard is."""

from __future__ import annotations

import typer

from hangard import __version__
from hangard.cli._common import ExitCode, app

__all__ = ["version"]


@app.command()
def version() -> None:
    """Print the hangard version."""
    typer.echo(f"hangard {__version__}")
    raise typer.Exit(ExitCode.OK)
