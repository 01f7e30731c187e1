"""``hangard status``: ask a running daemon how its items and schedules are."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hangard.cli._common import ExitCode, Output, OutputFormat, app, load_settings
from hangard.errors import HangardError

__all__ = ["status"]


@app.command()
def status(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="the daemon's base URL [default: http:// + $HANGARD_METRICS_ADDRESS,"
            " 127.0.0.1:9469]",
            show_default=False,
        ),
    ] = None,
    output: Output = OutputFormat.text,
    failing: Annotated[
        bool, typer.Option("--failing", help="only the items whose last attempt failed")
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for the daemon's answer", metavar="SECONDS")
    ] = 10.0,
) -> None:
    """Show what a running daemon (`hangard run`) reports on /status: each
    item in sync, drifted, missing or failing (with its last error and
    reason), and each schedule's last cycle and next run. Exits 1 when no
    daemon answers."""
    from hangard.daemon.query import daemon_url, fetch_status
    from hangard.render_status import failing_only, render_status

    if url is None:
        url = daemon_url(*load_settings().metrics_host_port)
    try:
        doc = fetch_status(url, timeout=timeout)
    except HangardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        typer.echo(f"  hint: {exc.remedy}", err=True)
        raise typer.Exit(ExitCode.FAILED) from None
    if failing:
        doc = failing_only(doc)
    if output is OutputFormat.json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(render_status(doc, url=url))
    raise typer.Exit(ExitCode.OK)
