"""Commands on a desired-state file: ``validate`` and ``plan`` (``sync`` is
:mod:`hangard.cli.sync`). They parse and print; :mod:`hangard.sync` observes
and plans."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hangard.cli._common import (
    ExitCode,
    Output,
    OutputFormat,
    ShardOpt,
    app,
    config_client,
    load_config,
    load_settings,
    run_async,
)

if TYPE_CHECKING:
    from hangard.config.loader import LoadedConfig
    from hangard.core.plan import Action
    from hangard.registry.client import RegistryClient
    from hangard.settings import Settings
    from hangard.sync import DigestCache, OwnershipStore, SaveFailure

__all__ = [
    "ConfigArg",
    "cache_for",
    "default_failed_path",
    "owners_for",
    "plan",
    "run_plan",
    "validate",
    "warn",
]

ConfigArg = Annotated[
    Path | None,
    typer.Argument(metavar="FILE", help="desired-state file (default: $HANGARD_CONFIG)"),
]


def cache_for(settings: Settings) -> DigestCache:
    """The digest cache, persisted when the state dir is usable."""
    from hangard.sync import DigestCache

    state_dir = settings.state_dir
    with contextlib.suppress(OSError):
        state_dir.mkdir(parents=True, exist_ok=True)
    if state_dir.is_dir() and os.access(state_dir, os.W_OK):
        return DigestCache.load(state_dir / "subset-cache.json")
    return DigestCache()


def owners_for(
    settings: Settings, loaded: LoadedConfig, *, create: bool = True
) -> OwnershipStore | None:
    """The state dir's ownership store (what prune may delete). Without
    ``create`` and no file yet, an empty one in memory: a plan writes
    nothing. ``None`` when it cannot be used, with a warning if the config
    prunes (a one-off sync without a state dir needs none)."""
    from hangard.errors import HangardError
    from hangard.sync import OwnershipStore
    from hangard.sync.ownership import OWNERSHIP_FILE

    path = settings.state_dir / OWNERSHIP_FILE
    if not create and not path.exists():
        return OwnershipStore.in_memory()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return OwnershipStore.open(path)
    except HangardError as exc:
        state = loaded.state
        if any(t.prune for t in state.targets.values()) or any(e.prune for e in state.images):
            typer.echo(f"warning: {exc}; nothing is pruned, no ownership is recorded", err=True)
        return None


def default_failed_path(settings: Settings) -> Path:
    """The state dir's failed list; the working directory's when the state
    dir is not writable (a one-off run by a user without /var/lib/hangard)."""
    path = settings.failed_path
    parent = path.parent
    if parent.is_dir() and os.access(parent, os.W_OK):
        return path
    if not parent.exists() and os.access(parent.parent, os.W_OK):
        return path
    return Path(settings.failed_file.name)


def warn(failures: tuple[SaveFailure, ...]) -> None:
    for failure in failures:
        typer.echo(f"warning: could not write {failure.path}: {failure.error}", err=True)


@app.command()
def validate(
    file: ConfigArg = None,
    online: Annotated[
        bool,
        typer.Option("--online", help="also check every source exists and every credential works"),
    ] = False,
    check_secrets: Annotated[
        bool,
        typer.Option(
            "--check-secrets",
            help="an unset password_env or unreadable password_file is an error, not a warning",
        ),
    ] = False,
    targets: Annotated[
        bool,
        typer.Option(
            "--targets",
            help="with --online: also check every target holds the desired digest "
            "(exit 2 when copies are pending)",
        ),
    ] = False,
    output: Output = OutputFormat.text,
) -> None:
    """Check a desired-state file offline (for a pre-commit hook or CI).

    Prints every problem as FILE:LINE:COL: message. Exit 0 valid, 2 invalid,
    1 when --online finds an unreachable source or a failing credential.
    With --online --targets: 0 every target in sync, 2 copies pending, 1 errors.
    """
    online = online or targets
    from hangard.config import check_config
    from hangard.config.trustfiles import TrustOptions

    settings = load_settings()
    path = file or settings.config
    trust = TrustOptions(settings.policy, settings.insecure_policy)
    loaded, problems = check_config(path, check_secrets=check_secrets or online, trust=trust)
    if output is OutputFormat.json:
        typer.echo(json.dumps([dataclasses.asdict(p) for p in problems], indent=2))
    else:
        for problem in problems:
            typer.echo(str(problem))
    errors = [p for p in problems if p.is_error]
    if errors or loaded is None:
        typer.echo(f"{path}: {len(errors)} problem{'s' if len(errors) != 1 else ''}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    if output is OutputFormat.text:
        typer.echo(f"{path}: valid ({loaded.summary()})")
    if online:
        from hangard.core.plan import PlanStatus

        failures, pending = run_async(_online_checks(loaded, settings, targets=targets))
        if failures:
            raise typer.Exit(ExitCode.FAILED)
        raise typer.Exit(PlanStatus.PENDING if targets and pending else ExitCode.OK)


def _fail_line(action: Action) -> str:
    """A failure under the target it concerns, or under the source tag when
    the source failed (then it shows once, whatever the number of targets)."""
    from hangard.core.plan import SyncItem
    from hangard.core.reference import ImageReference

    item = action.item
    error = action.error
    on_target = (
        isinstance(item, SyncItem)
        and error is not None
        and isinstance(item.destination, ImageReference)
        and error.context.registry == item.destination.registry != item.source.registry
    )
    where = f"{item.image}:{action.key[1]}"
    if on_target:
        where += f" -> {item.target}"
    return f"FAIL {where}: {action.describe()}"


async def _online_checks(
    loaded: LoadedConfig, settings: Settings, *, targets: bool = False
) -> tuple[int, int]:
    """Every source tag exists, every registry answers with working
    credentials, and the targets accept pushes (an upload is opened and
    cancelled); with ``targets``, also list the items whose target does not
    hold the desired digest. Returns (failures, pending copies)."""
    from hangard.core.plan import ActionKind, SyncItem
    from hangard.core.reference import ImageReference
    from hangard.sync import check_pushes, observe_and_plan

    failures = 0
    async with config_client(loaded, settings) as client:
        planned = await observe_and_plan(client, loaded.state)
        reported: set[str] = set()
        for action in planned.plan.actions:
            if action.kind is ActionKind.ERROR or action.cause == "source missing":
                line = _fail_line(action)
                if line not in reported:
                    reported.add(line)
                    failures += 1
                    typer.echo(line)
        pending = [a for a in planned.plan.actions if a.kind is ActionKind.COPY]
        if targets:
            for action in pending:
                item = action.item
                where = item.destination if isinstance(item, SyncItem) else item.target
                typer.echo(
                    f"PENDING {item.image}:{action.key[1]} -> {where} [{item.target}]: "
                    f"{action.describe()}"
                )
        repos = {
            i.destination.repository
            for i in planned.items
            if isinstance(i.destination, ImageReference)
        }
        for repo, refused, note in await check_pushes(client, repos):
            if refused is None:
                typer.echo(f"ok   push to {repo}" + (f": {note}" if note else ""))
            else:
                failures += 1
                typer.echo(f"FAIL push to {repo}: {refused}")
    sources = len({i.source for i in planned.items})
    summary = f"online: {sources} sources, {len(repos)} target repositories, {failures} failures"
    if targets:
        in_sync = sum(1 for a in planned.plan.actions if a.kind is ActionKind.IN_SYNC)
        summary += f", {in_sync} in sync, {len(pending)} to copy"
    typer.echo(summary)
    return failures, len(pending)


@app.command()
def plan(
    file: ConfigArg = None,
    output: Output = OutputFormat.text,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="exit 0 all in sync, 2 copies pending, 1 errors"),
    ] = False,
    shard: ShardOpt = None,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            metavar="N",
            help="show how the items spread over N shards instead (no digests are asked)",
        ),
    ] = None,
) -> None:
    """Show what a sync would do, per (image, tag, target), without copying.

    Exit 0, or 1 when any item is in error; with --detailed-exitcode (as
    terraform's): 0 all in sync, 2 copies pending, 1 errors.
    """
    settings = load_settings(shard=shard)
    loaded = load_config(file or settings.config, settings)
    if shards is not None:
        raise typer.Exit(run_async(_spread(loaded, settings, shards, output)))
    raise typer.Exit(run_plan(loaded, settings, output, detailed_exitcode=detailed_exitcode))


def run_plan(
    loaded: LoadedConfig,
    settings: Settings,
    output: OutputFormat,
    *,
    detailed_exitcode: bool = False,
    client: Callable[[], RegistryClient] | None = None,
) -> int:
    """Observe, plan and print (``plan``, ``sync --dry-run``); the exit code.
    ``client`` makes the registry client (default: the config's)."""

    async def work() -> int:
        from hangard.sync import Save, observe_and_plan, persist

        cache = cache_for(settings)
        owners = owners_for(settings, loaded, create=False) if settings.prune else None
        make = client or (lambda: config_client(loaded, settings))
        async with make() as registries:
            planned = await observe_and_plan(
                registries, loaded.state, cache=cache, shard=settings.shard, owners=owners
            )
        if owners is not None:
            owners.close()
        warn(persist([Save("digest cache", cache.path, cache.save)]))
        result = planned.plan
        typer.echo(result.to_json() if output is OutputFormat.json else result.render())
        if detailed_exitcode:
            return result.status
        return ExitCode.FAILED if result.summary["error"] else ExitCode.OK

    return run_async(work())


async def _spread(
    loaded: LoadedConfig, settings: Settings, count: int, output: OutputFormat
) -> int:
    """``plan --shards N``: items per shard, and the largest shard's share."""
    from hangard.core.shard import MAX_SHARDS
    from hangard.sync import shard_spread

    if not 1 <= count <= MAX_SHARDS:
        typer.echo(f"error: --shards must be 1 to {MAX_SHARDS}, not {count}", err=True)
        return ExitCode.USAGE
    async with config_client(loaded, settings) as client:
        spread = await shard_spread(client, loaded.state, count)
    if output is OutputFormat.json:
        typer.echo(json.dumps(spread.as_dict(), indent=2))
    else:
        for line in spread.lines():
            typer.echo(line)
    return ExitCode.FAILED if spread.problems else ExitCode.OK
