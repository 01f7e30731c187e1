"""``hangard run``: parse the daemon's options and hand over to
:mod:`hangard.daemon`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hangard.cli._common import InsecurePolicy, PolicyFile, ShardOpt, app, load_settings
from hangard.cli.flags import at_least

__all__ = ["run"]


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="desired-state file ($HANGARD_CONFIG)")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option(help="$HANGARD_STATE_DIR")] = None,
    metrics_address: Annotated[
        str | None, typer.Option(help="HOST:PORT for /metrics, /healthz, /readyz, /status")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            callback=at_least(1),
            help="copies in flight across all schedules ($HANGARD_CONCURRENCY)",
        ),
    ] = None,
    watch: Annotated[
        bool | None, typer.Option("--watch/--no-watch", help="reload when config files change")
    ] = None,
    shutdown_grace: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            callback=at_least(0),
            help="on SIGTERM, how long copies in flight may finish ($HANGARD_SHUTDOWN_GRACE)",
        ),
    ] = None,
    policy: PolicyFile = None,
    insecure_policy: InsecurePolicy = None,
    shard: ShardOpt = None,
    prune: Annotated[
        bool | None,
        typer.Option(
            "--prune/--no-prune", help="prune targets with prune: true ($HANGARD_PRUNE, default on)"
        ),
    ] = None,
) -> None:
    """Run the daemon: sync on schedule, reload on SIGHUP or file change,
    serve metrics and health endpoints. Stops cleanly on SIGTERM."""
    settings = load_settings(
        config=config,
        state_dir=state_dir,
        metrics_address=metrics_address,
        concurrency=concurrency,
        watch_config=watch,
        shutdown_grace=shutdown_grace,
        policy=policy,
        insecure_policy=insecure_policy or None,
        shard=shard,
        prune=prune,
    )
    from hangard.aio import run
    from hangard.daemon import Daemon

    async def work() -> int:
        return await Daemon(settings).run()

    raise typer.Exit(run(work()))
