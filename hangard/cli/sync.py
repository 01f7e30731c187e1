"""``hangard sync``: plan, then copy what is missing or drifted, once (the
daemon is ``hangard run``). From a desired-state file, or ad hoc from a
Hangar list (``--list FILE --to REGISTRY[/PREFIX]``). It parses and prints;
:mod:`hangard.sync` runs the cycle."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hangard.cli._common import (
    AuthFile,
    ExitCode,
    InsecurePolicy,
    NoAttachments,
    Output,
    OutputFormat,
    PolicyFile,
    Progress,
    RemoveSignatures,
    ShardOpt,
    app,
    config_client,
    load_config,
    load_settings,
    parse_bool,
    parse_platforms,
    run_async,
)
from hangard.cli.desired import (
    ConfigArg,
    cache_for,
    default_failed_path,
    owners_for,
    run_plan,
    warn,
)
from hangard.cli.flags import Quiet, Retries, RetryDelay, RetryTimes, at_least, quiet_logging

if TYPE_CHECKING:
    from hangard.config.loader import LoadedConfig
    from hangard.registry.client import RegistryClient
    from hangard.settings import Settings
    from hangard.sync import CycleResult

__all__ = ["sync"]

#: The flags that say, for --list, what a desired-state file says in its keys.
_LIST_ONLY = (
    "--to",
    "--platform",
    "--src-tls-verify",
    "--dest-tls-verify",
    "--src-plain-http",
    "--dest-plain-http",
    "--src-cert-dir",
    "--dest-cert-dir",
)


def _cert_dir(whose: str) -> Any:
    return typer.Option(
        metavar="DIR",
        exists=True,
        file_okay=False,
        help=f"with --list: {whose} certificates, docker certs.d style (*.crt, client.cert + "
        "client.key)",
    )


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


@app.command()
def sync(
    ctx: typer.Context,
    file: ConfigArg = None,
    list_file: Annotated[
        Path | None,
        typer.Option(
            "--list",
            metavar="FILE",
            exists=True,
            dir_okay=False,
            help="mirror this Hangar image list instead of a desired-state file (with --to)",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="REGISTRY[/PREFIX]", help="with --list: where the images go"),
    ] = None,
    platform: Annotated[
        list[str] | None,
        typer.Option(
            "--platform",
            "-p",
            metavar="OS/ARCH[/VARIANT]",
            help="with --list: copy only this platform; repeatable",
        ),
    ] = None,
    src_tls_verify: Annotated[
        str,
        typer.Option(metavar="BOOL", help="with --list: verify the sources' TLS certificates"),
    ] = "true",
    dest_tls_verify: Annotated[
        str, typer.Option(metavar="BOOL", help="with --list: verify --to's TLS certificate")
    ] = "true",
    src_cert_dir: Annotated[Path | None, _cert_dir("the sources'")] = None,
    dest_cert_dir: Annotated[Path | None, _cert_dir("--to's")] = None,
    src_plain_http: Annotated[
        bool, typer.Option("--src-plain-http", help="with --list: the sources speak plain HTTP")
    ] = False,
    dest_plain_http: Annotated[
        bool, typer.Option("--dest-plain-http", help="with --list: --to speaks plain HTTP")
    ] = False,
    authfile: AuthFile = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="copy nothing: print the plan (the same as hangard plan)"),
    ] = False,
    once: Annotated[
        bool,
        typer.Option("--once", help="accepted for compatibility: sync always runs once"),
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            callback=at_least(1),
            help="copies in flight (default $HANGARD_CONCURRENCY)",
        ),
    ] = None,
    retry_times: RetryTimes = None,
    retry_delay: RetryDelay = None,
    failed_file: Annotated[
        Path | None,
        typer.Option(
            help="where to list failed items (default: $HANGARD_FAILED_FILE in the state dir)"
        ),
    ] = None,
    output: Output = OutputFormat.text,
    progress: Progress = None,
    quiet: Quiet = False,
    policy: PolicyFile = None,
    insecure_policy: InsecurePolicy = None,
    no_attachments: NoAttachments = False,
    remove_signatures: RemoveSignatures = False,
    shard: ShardOpt = None,
    no_prune: Annotated[
        bool,
        typer.Option("--no-prune", help="copy only: delete nothing, even where prune: true"),
    ] = False,
) -> None:
    """Make the targets match the desired state once: plan, then copy what is
    missing or drifted, then prune the targets that ask for it (`hangard
    run` is the daemon). Exit 0 all ok, 1 something failed, 2 bad input."""
    if quiet:
        quiet_logging(ctx)
    settings = load_settings(
        concurrency=concurrency,
        shard=shard,
        prune=False if no_prune else None,
        policy=policy,
        insecure_policy=insecure_policy or None,
    )
    if list_file is None:
        _no_list_flags(ctx)
        loaded = load_config(file or settings.config, settings)
    else:
        if file is not None:
            raise typer.BadParameter("give FILE or --list, not both", param_hint="--list")
        tls = (parse_bool(src_tls_verify), parse_bool(dest_tls_verify))
        access = (tls, (src_plain_http, dest_plain_http), (src_cert_dir, dest_cert_dir))
        loaded = _adhoc(list_file, to, platform or [], *access)
    retries = Retries(retry_times, retry_delay)

    def client() -> RegistryClient:
        return config_client(loaded, settings, retries=retries, authfile=authfile)

    if dry_run:
        raise typer.Exit(run_plan(loaded, settings, output, client=client))
    show = not quiet and (sys.stderr.isatty() if progress is None else progress)
    raise typer.Exit(
        _run_once(
            loaded,
            settings,
            failed_file,
            (output, quiet, show),
            (retries, authfile),
            (no_attachments, remove_signatures),
        )
    )


def _no_list_flags(ctx: typer.Context) -> None:
    """The --list companions are refused with a desired-state file: its
    ``registries:`` and ``platforms`` say these things there."""
    given = [flag for flag in _LIST_ONLY if _given(ctx, flag)]
    if given:
        raise typer.BadParameter(
            f"{', '.join(given)} go with --list; a desired-state file says them in "
            "its registries: and platforms keys",
            param_hint=given[0],
        )


def _given(ctx: typer.Context, flag: str) -> bool:
    name = flag.removeprefix("--").replace("-", "_")
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _adhoc(
    list_file: Path,
    to: str | None,
    platform: list[str],
    tls: tuple[bool, bool],
    plain: tuple[bool, bool],
    cert_dirs: tuple[Path | None, Path | None],
) -> LoadedConfig:
    """The list as a desired state, or its problems printed and exit 2."""
    from hangard.archive import parse_to
    from hangard.config.adhoc import adhoc_config
    from hangard.core.desired import RegistrySettings
    from hangard.errors import ConfigError, InputError

    if to is None:
        raise typer.BadParameter("--list needs --to REGISTRY[/PREFIX]", param_hint="--to")
    try:
        target = parse_to(to)
    except InputError as exc:
        raise typer.BadParameter(exc.message, param_hint="--to") from None
    wanted = tuple(str(p) for p in parse_platforms(platform))
    try:
        return adhoc_config(
            list_file,
            target,
            platforms=wanted,
            sources=RegistrySettings(tls_verify=tls[0], http=plain[0], cert_dir=_str(cert_dirs[0])),
            destination=RegistrySettings(
                tls_verify=tls[1], http=plain[1], cert_dir=_str(cert_dirs[1])
            ),
        )
    except ConfigError as exc:
        for problem in exc.problems or [exc.message]:
            typer.echo(problem, err=True)
        raise typer.Exit(ExitCode.USAGE) from None


def _run_once(
    loaded: LoadedConfig,
    settings: Settings,
    failed_file: Path | None,
    shown: tuple[OutputFormat, bool, bool],
    access: tuple[Retries, Path | None],
    attachments: tuple[bool, bool],
) -> int:
    output, quiet, show_progress = shown
    retries, authfile = access
    failed_path = failed_file or default_failed_path(settings)

    async def work() -> int:
        from hangard.sync import CycleHooks, Pruning, Scope, run_cycle
        from hangard.sync.cycle import AttachmentChoice

        hooks = CycleHooks()
        display: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if show_progress:
            from hangard.cli.display import ProgressHooks

            hooks = display = ProgressHooks()
        owners = owners_for(settings, loaded)
        pruning = None if owners is None else Pruning(owners, enabled=settings.prune)
        async with config_client(loaded, settings, retries=retries, authfile=authfile) as client:
            with display:
                done = await run_cycle(
                    client,
                    AttachmentChoice(*attachments).apply(loaded.state),
                    cache=cache_for(settings),
                    failed_path=failed_path,
                    hooks=hooks,
                    concurrency=settings.concurrency,
                    scope=Scope(shard=settings.shard),
                    pruning=pruning,
                )
        if owners is not None:
            owners.close()
        warn(done.save_failures)
        _print_sync(done, output, quiet)
        if done.failed_listed:
            typer.echo(f"{done.failed_listed} failed item(s) listed in {failed_path}", err=True)
        return ExitCode.OK if done.ok else ExitCode.FAILED

    return run_async(work())


def _print_sync(done: CycleResult, output: OutputFormat, quiet: bool) -> None:
    from hangard.sync import ItemOutcome

    report = done.report
    if output is OutputFormat.json:
        doc = {
            "summary": {o.value: report.count(o) for o in ItemOutcome},
            "bytes": report.bytes_moved,
            "duration": report.duration,
            "results": [
                {**r.action.as_dict(), "outcome": r.outcome.value, "error": r.error}
                for r in report.results
            ],
            "pruned": [
                {
                    **p.deletion.as_dict(),
                    "outcome": p.outcome.value if p.outcome else "failed",
                    "error": str(p.error) if p.error else None,
                }
                for p in done.pruned
            ],
            "notes": list(done.planned.plan.notes),
        }
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    for r in report.failed:
        line = f"FAILED {r.action.item.image}:{r.key[1]} -> {r.action.item.target}: {r.error}"
        typer.echo(line, err=quiet)
    _print_pruned(done, quiet)
    if not quiet:
        typer.echo(report.summary_line())


def _print_pruned(done: CycleResult, quiet: bool) -> None:
    """One line per deletion (a failed one even with ``--quiet``, on stderr)
    and the prune step's notes."""
    for p in done.pruned:
        where = f"{p.deletion.reference} [{p.deletion.target}]"
        if p.error is not None:
            typer.echo(f"FAILED delete {where}: {p.error}", err=quiet)
        elif not quiet:
            typer.echo(f"PRUNE {where}: {p.outcome.value if p.outcome else ''}")
    if not quiet:
        for note in done.planned.plan.notes:
            typer.echo(f"note: {note}")
