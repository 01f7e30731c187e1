"""``hangard load FILE.zip``: push an archive's images to a registry, to
``--to REGISTRY[/PREFIX]`` or to a desired-state target (its mapping
applies). It parses and prints; :mod:`hangard.archive.load` works."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hangard.cli._common import (
    AuthFile,
    ExitCode,
    InsecurePolicy,
    PolicyFile,
    Progress,
    TlsVerify,
    app,
    parse_platforms,
    run_async,
)
from hangard.cli.archive import (
    CaFile,
    ConfigOption,
    Creds,
    Jobs,
    ListOption,
    PlainHttp,
    Platforms,
    _client,
    _list_lines,
    _reporter,
)
from hangard.cli.flags import Retries, RetryDelay, RetryTimes
from hangard.errors import InputError
from hangard.hints import CliHints

if TYPE_CHECKING:
    from hangard.archive.load import LoadReport
    from hangard.config.loader import LoadedConfig
    from hangard.core.desired import Target

__all__ = ["load"]

ArchiveArg = Annotated[
    Path, typer.Argument(metavar="FILE.zip", help="the archive (or its first part, FILE.zip.001)")
]


def _target(to: str | None, loaded: LoadedConfig | None, name: str | None) -> Target:
    from hangard.archive import parse_to

    if (to is None) == (loaded is None):
        raise typer.BadParameter("give --to REGISTRY[/PREFIX], or --config FILE --target NAME")
    if to is not None:
        try:
            return parse_to(to)
        except InputError as exc:
            raise typer.BadParameter(exc.message, param_hint="--to") from None
    assert loaded is not None
    targets = loaded.state.targets
    registries = sorted(n for n, t in targets.items() if t.registry is not None)
    if name is None or name not in targets or targets[name].registry is None:
        raise typer.BadParameter(
            f"--target must name a registry target of the file: {', '.join(registries)}",
            param_hint="--target",
        )
    return targets[name]


@app.command()
def load(
    file: ArchiveArg,
    to: Annotated[
        str | None, typer.Option("--to", metavar="REGISTRY[/PREFIX]", help="where to push")
    ] = None,
    config: ConfigOption = None,
    target: Annotated[
        str | None, typer.Option("--target", help="with --config: the target to push to")
    ] = None,
    list_file: ListOption = None,
    platform: Platforms = None,
    project: Annotated[
        str | None,
        typer.Option("--project", help="replace each image's project (first path segment)"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace a tag that has another digest")
    ] = False,
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            metavar="OLD.zip",
            exists=True,
            dir_okay=False,
            help="for a delta: the archive it was made against",
        ),
    ] = None,
    jobs: Jobs = 4,
    tls_verify: TlsVerify = "true",
    ca_file: CaFile = None,
    plain_http: PlainHttp = False,
    creds: Creds = None,
    authfile: AuthFile = None,
    retry_times: RetryTimes = None,
    retry_delay: RetryDelay = None,
    progress: Progress = None,
    policy: PolicyFile = None,
    insecure_policy: InsecurePolicy = None,
) -> None:
    """Push an archive's images to a registry, digests kept. A tag that
    exists with another digest is reported, not replaced (--overwrite).
    With a policy, an image loads once the signature saved beside it meets it.
    Exit 0 all loaded, 1 a failure or conflict, 2 bad input."""
    from hangard.cli.trust import command_trust

    trust, loaded = command_trust(policy, insecure_policy, config)
    where = _target(to, loaded, target)
    wanted = parse_platforms(platform or [])
    lines = _list_lines(list_file) if list_file is not None else None
    show = sys.stderr.isatty() if progress is None else progress
    access = (tls_verify, ca_file, plain_http, creds, authfile, Retries(retry_times, retry_delay))

    async def work() -> int:
        import asyncio

        from hangard.archive import select
        from hangard.archive.destinations import with_requirements
        from hangard.archive.listing import list_archive
        from hangard.archive.load import load as run_load
        from hangard.core.reference import parse_reference

        listing = await asyncio.to_thread(list_archive, file)
        names = [parse_reference(row.name) for row in listing.images]
        items, missing = select(names, where, lines=lines, project=project)
        items = with_requirements(items, trust, loaded.state if loaded else None)
        for line in missing:
            typer.echo(
                f"{list_file}:{line.line}: {line.source}:{line.tag} is not in {file}", err=True
            )
        assert where.registry is not None
        async with _client([where.registry], access, loaded) as client:
            reporter = _reporter(show)
            with reporter or contextlib.nullcontext():
                report = await run_load(
                    client, file, items, platforms=wanted, overwrite=overwrite, jobs=jobs,
                    progress=reporter, base=base,
                )  # fmt: skip
        _print_load(report)
        return ExitCode.OK if report.ok and not missing else ExitCode.FAILED

    raise typer.Exit(run_async(work(), CliHints(default="--")))


def _print_load(report: LoadReport) -> None:
    from hangard.archive.load import LoadOutcome
    from hangard.render import human_size

    for r in report.results:
        dest = r.item.destination
        if r.outcome is LoadOutcome.CONFLICT:
            typer.echo(
                f"CONFLICT {dest}: has {r.existing}, the archive {r.wanted} "
                "(not replaced; --overwrite replaces it)",
                err=True,
            )
        elif r.outcome is LoadOutcome.FAILED and r.error is not None:
            typer.echo(f"FAILED {r.item.name} -> {dest}: {r.error} [{r.error.reason}]", err=True)
        elif r.outcome is LoadOutcome.SKIPPED:
            typer.echo(f"skipped {r.item.name}: {r.copy.skipped if r.copy else r.note}")
        else:
            typer.echo(f"{r.outcome.value} {r.item.name} -> {dest}  {r.wanted or ''}".rstrip())
    counts = ", ".join(f"{report.count(o)} {o.value}" for o in LoadOutcome)
    typer.echo(f"load: {counts}; {human_size(report.bytes_moved)} in {report.duration:.1f}s")
