"""Commands that work on a desired-state file: ``validate``, ``plan``,
``sync --once`` and ``run``. They parse and print; the library does the work."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hangard.cli import OutputFormat, _run, app
from hangard.errors import ConfigError, HangardError

if TYPE_CHECKING:
    from hangard.config.loader import LoadedConfig
    from hangard.registry.client import RegistryClient
    from hangard.settings import Settings
    from hangard.sync import SubsetCache

# As in hangard.cli, each command imports its machinery when it runs.

__all__: list[str] = []

ConfigArg = Annotated[
    Path | None,
    typer.Argument(metavar="FILE", help="desired-state file (default: $HANGARD_CONFIG)"),
]


def _settings(**overrides: Any) -> Settings:
    from hangard.settings import load_settings

    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _load(path: Path) -> LoadedConfig:
    from hangard.config import load_desired_state

    try:
        return load_desired_state(path, check_secrets=True)
    except ConfigError as exc:
        for problem in exc.problems or [exc.message]:
            typer.echo(problem, err=True)
        typer.echo(f"{path}: invalid; run `hangard validate {path}`", err=True)
        raise typer.Exit(2) from None


def _client(loaded: LoadedConfig, settings: Settings) -> RegistryClient:
    from hangard.config import client_options, credential_store
    from hangard.registry.client import RegistryClient

    try:
        store = credential_store(loaded)
    except ConfigError as exc:
        for problem in exc.problems or [exc.message]:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None
    options = client_options(loaded, global_concurrency=settings.concurrency)
    return RegistryClient(options, store)


def _cache(settings: Settings) -> SubsetCache:
    """Persist the platform-subset cache when the state dir is usable."""
    from hangard.sync import SubsetCache

    state_dir = settings.state_dir
    with contextlib.suppress(OSError):
        state_dir.mkdir(parents=True, exist_ok=True)
    if state_dir.is_dir() and os.access(state_dir, os.W_OK):
        return SubsetCache.load(state_dir / "subset-cache.json")
    return SubsetCache()


def _default_failed_path(settings: Settings) -> Path:
    """The state dir's failed list; the working directory's when the state
    dir is not writable (a one-off run by a user without /var/lib/hangard)."""
    path = settings.failed_path
    parent = path.parent
    if parent.is_dir() and os.access(parent, os.W_OK):
        return path
    if not parent.exists() and os.access(parent.parent, os.W_OK):
        return path
    return Path(settings.failed_file.name)


@app.command()
def validate(
    file: ConfigArg = None,
    online: Annotated[
        bool,
        typer.Option("--online", help="also check every source exists and every credential works"),
    ] = False,
    check_secrets: Annotated[
        bool, typer.Option("--check-secrets", help="check password_env/password_file are set")
    ] = False,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.text,
) -> None:
    """Check a desired-state file offline (for a pre-commit hook or CI).

    Prints every problem as FILE:LINE:COL: message. Exit 0 valid, 2 invalid,
    1 when --online finds an unreachable source or a failing credential.
    """
    from hangard.config import check_file

    settings = _settings()
    path = file or settings.config
    loaded, problems = check_file(path, check_secrets=check_secrets or online)
    if output is OutputFormat.json:
        typer.echo(json.dumps([dataclasses.asdict(p) for p in problems], indent=2))
    else:
        for problem in problems:
            typer.echo(str(problem))
    if problems or loaded is None:
        typer.echo(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", err=True)
        raise typer.Exit(2)
    if output is OutputFormat.text:
        typer.echo(f"{path}: valid ({loaded.summary()})")
    if online:
        failures = _run(_online_checks(loaded, settings))
        raise typer.Exit(1 if failures else 0)


async def _online_checks(loaded: LoadedConfig, settings: Settings) -> int:
    """Every source tag exists, every registry answers with working
    credentials, and the targets accept pushes (an upload is opened and
    cancelled)."""
    from hangard.core.plan import ActionKind
    from hangard.sync import compute_plan

    failures = 0
    async with _client(loaded, settings) as client:
        plan, items, _ = await compute_plan(client, loaded.state)
        reported: set[str] = set()
        for action in plan.actions:
            if action.kind is ActionKind.ERROR or action.reason == "source missing":
                # a source problem shows on every target: name it once
                line = f"FAIL {action.item.image}:{action.key[1]}: {action.describe()}"
                if line not in reported:
                    reported.add(line)
                    failures += 1
                    typer.echo(line)
        targets = {i.destination.repository for i in items}
        for repo in sorted(targets):
            try:
                location = await client.start_upload(repo)
                await client.cancel_upload(repo, location)
                typer.echo(f"ok   push to {repo}")
            except HangardError as exc:
                failures += 1
                typer.echo(f"FAIL push to {repo}: {exc}")
    sources = len({i.source for i in items})
    typer.echo(
        f"online: {sources} sources, {len(targets)} target repositories, {failures} failures"
    )
    return failures


@app.command()
def plan(
    file: ConfigArg = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.text,
) -> None:
    """Show what a sync would do, per (image, tag, target), without copying.

    Exit 0, or 1 when any item is in error.
    """
    settings = _settings()
    loaded = _load(file or settings.config)

    async def work() -> int:
        from hangard.sync import compute_plan

        cache = _cache(settings)
        async with _client(loaded, settings) as client:
            result, _, _ = await compute_plan(client, loaded.state, cache=cache)
        with contextlib.suppress(OSError):
            cache.save()
        typer.echo(result.to_json() if output is OutputFormat.json else result.render())
        return 1 if result.summary["error"] else 0

    raise typer.Exit(_run(work()))


@app.command()
def sync(
    file: ConfigArg = None,
    once: Annotated[bool, typer.Option("--once", help="plan and execute once, then exit")] = False,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="copies in flight (default $HANGARD_CONCURRENCY)")
    ] = None,
    failed_file: Annotated[
        Path | None,
        typer.Option(
            help="where to list failed items (default: $HANGARD_FAILED_FILE in the state dir)"
        ),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.text,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="progress bars (default: on a TTY)"),
    ] = None,
) -> None:
    """Make the targets match the desired state: plan, then copy what is
    missing or drifted. Exit 0 all ok, 1 something failed, 2 bad input."""
    if not once:
        typer.echo(
            "error: use `hangard sync --once FILE`, or `hangard run` for the daemon", err=True
        )
        raise typer.Exit(2)
    settings = _settings(concurrency=concurrency)
    loaded = _load(file or settings.config)
    failed_path = failed_file or _default_failed_path(settings)
    show_progress = sys.stderr.isatty() if progress is None else progress

    async def work() -> int:
        from hangard.sync import ItemOutcome, compute_plan, execute
        from hangard.sync.execute import write_failed_list

        cache = _cache(settings)
        async with _client(loaded, settings) as client:
            result, _, _ = await compute_plan(client, loaded.state, cache=cache)
            reporter: Any = None
            session = None
            if show_progress:
                from hangard.copy import TransferSession
                from hangard.progress import RichProgress

                reporter = RichProgress()
                reporter.items(len(result.actions))
                session = TransferSession(client, progress=reporter)
            with reporter or contextlib.nullcontext():
                report = await execute(
                    client,
                    result,
                    concurrency=settings.concurrency,
                    session=session,
                    on_result=reporter.item_done if reporter else None,
                    cache=cache,
                )
        with contextlib.suppress(OSError):
            cache.save()
        try:
            written = write_failed_list(failed_path, report)
        except OSError as exc:
            typer.echo(f"warning: could not write {failed_path}: {exc}", err=True)
            written = 0
        if output is OutputFormat.json:
            doc = {
                "summary": {o.value: report.count(o) for o in ItemOutcome},
                "bytes": report.bytes_moved,
                "duration": report.duration,
                "results": [
                    {**r.action.as_dict(), "outcome": r.outcome.value, "error": r.error}
                    for r in report.results
                ],
            }
            typer.echo(json.dumps(doc, indent=2, default=str))
        else:
            for r in report.failed:
                typer.echo(
                    f"FAILED {r.action.item.image}:{r.key[1]} -> {r.action.item.target}: {r.error}"
                )
            typer.echo(report.summary_line())
        if written:
            typer.echo(f"{written} failed item(s) listed in {failed_path}", err=True)
        return 0 if report.ok else 1

    raise typer.Exit(_run(work()))


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="desired-state file ($HANGARD_CONFIG)")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option(help="$HANGARD_STATE_DIR")] = None,
    metrics_address: Annotated[
        str | None, typer.Option(help="HOST:PORT for /metrics, /healthz, /readyz, /status")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1)] = None,
    watch: Annotated[
        bool | None, typer.Option("--watch/--no-watch", help="reload when config files change")
    ] = None,
    shutdown_grace: Annotated[float | None, typer.Option(min=0)] = None,
) -> None:
    """Run the daemon: sync on schedule, reload on SIGHUP or file change,
    serve metrics and health endpoints. Stops cleanly on SIGTERM."""
    settings = _settings(
        config=config,
        state_dir=state_dir,
        metrics_address=metrics_address,
        concurrency=concurrency,
        watch_config=watch,
        shutdown_grace=shutdown_grace,
    )
    import asyncio

    from hangard.daemon.service import Daemon

    async def work() -> int:
        return await Daemon(settings).run()

    raise typer.Exit(asyncio.run(work()))
