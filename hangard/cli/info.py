"""``hangard version`` and ``hangard schema``: what this hangard is, and the
JSON Schema of the desired-state file it reads."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hangard import __version__
from hangard.cli._common import ExitCode, OutputFormat, app

__all__ = ["schema", "version"]


@app.command()
def version(
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output",
            "-o",
            help="text: the version line; json: also the git revision, Python and libraries",
        ),
    ] = OutputFormat.text,
) -> None:
    """Print the hangard version (with -o json: revision, Python, libraries)."""
    if output is OutputFormat.json:
        from hangard.buildinfo import build_info

        typer.echo(json.dumps(build_info().as_dict(), indent=2))
    else:
        typer.echo(f"hangard {__version__}")
    raise typer.Exit(ExitCode.OK)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the desired-state file (for editors and CI;
    config/hangard.schema.json is a copy)."""
    from hangard.config.schema import schema_text

    typer.echo(schema_text(), nl=False)
    raise typer.Exit(ExitCode.OK)
