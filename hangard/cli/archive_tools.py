"""``hangard archive ls``, ``verify``, ``merge``, ``export`` and ``diff``:
look into, check, combine and compare archives. They parse and print;
:mod:`hangard.archive` works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from hangard.cli._common import (
    AuthFile,
    ExitCode,
    Output,
    OutputFormat,
    TlsVerify,
    parse_bool,
    parse_creds,
    registry_client,
    run_async,
)
from hangard.cli.archive import archive_app
from hangard.cli.load import ArchiveArg
from hangard.errors import InputError
from hangard.hints import CliHints

if TYPE_CHECKING:
    from hangard.archive.combine import Carried

__all__ = ["diff", "export", "ls", "merge", "verify"]


@archive_app.command()
def ls(
    file: ArchiveArg,
    output: Output = OutputFormat.text,
) -> None:
    """List the images in an archive: name, digest, platforms, size."""

    async def work() -> int:
        import asyncio

        from hangard.archive.listing import list_archive
        from hangard.render import human_size

        listing = await asyncio.to_thread(list_archive, file)
        if output is OutputFormat.json:
            typer.echo(json.dumps(listing.as_dict(), indent=2))
            return ExitCode.OK
        for row in listing.images:
            digest = row.digest or "(rebuilt at load: a Hangar multi-platform entry)"
            platforms = ",".join(row.platforms) or "-"
            typer.echo(f"{row.name}  {digest}  {platforms}  {human_size(row.size)}")
        base = f", a delta needing {listing.base}" if listing.base else ""
        typer.echo(
            f"{file}: {len(listing.images)} images, {human_size(listing.size)} "
            f"(index {listing.version}, {listing.time or 'no time'}{base})"
        )
        return ExitCode.OK

    raise typer.Exit(run_async(work()))


@archive_app.command()
def verify(
    file: ArchiveArg,
    base: Annotated[
        Path | None,
        typer.Option("--base", metavar="OLD.zip", help="for a delta: the archive it needs"),
    ] = None,
) -> None:
    """Check every blob's sha256 and that every image is complete.
    Exit 0 sound, 1 damaged or incomplete."""

    async def work() -> int:
        import asyncio

        from hangard.archive.verify import verify_archive
        from hangard.render import human_size

        report = await asyncio.to_thread(verify_archive, file, base=base)
        for problem in report.problems:
            typer.echo(f"BAD {problem}", err=True)
        state = "sound" if report.ok else f"{len(report.problems)} problems"
        extra = f", {report.base_blobs} in the base" if report.base_blobs else ""
        typer.echo(
            f"{file}: {state}: {report.images} images, {report.blobs} blobs "
            f"({human_size(report.bytes_checked)}) checked{extra}"
        )
        return ExitCode.OK if report.ok else ExitCode.FAILED

    raise typer.Exit(run_async(work()))


@archive_app.command()
def merge(
    inputs: Annotated[
        list[Path], typer.Argument(metavar="A.zip B.zip...", help="archives to merge")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="the new archive")],
    prefer: Annotated[
        Literal["first", "last"] | None,
        typer.Option(
            "--prefer",
            help="a name two inputs hold with different digests: take the first input's "
            "or the last's (without it, such a clash writes nothing and exits 1)",
        ),
    ] = None,
) -> None:
    """Merge archives into a new one, each blob stored once. A name held by
    two inputs with the same digest is stored once; with different digests
    it is a clash: reported, and nothing written unless --prefer says which
    to keep."""

    async def work() -> int:
        from hangard.archive.combine import carry, merge_inputs

        chosen, clashes = await merge_inputs(inputs, prefer or "first")
        for clash in clashes:
            kept = f"; taking {clash.kept[0]}'s (--prefer {prefer})" if prefer else ""
            typer.echo(f"{'warning' if prefer else 'CLASH'} {clash.line()}{kept}", err=True)
        if clashes and prefer is None:
            typer.echo(
                f"merge: {len(clashes)} names with different digests in the inputs; "
                f"nothing written (--prefer first|last says which to keep)",
                err=True,
            )
            return ExitCode.FAILED
        async with registry_client([]) as client:
            return _carried(await carry(client, chosen, output))

    raise typer.Exit(run_async(work()))


@archive_app.command()
def export(
    file: ArchiveArg,
    list_file: Annotated[
        Path,
        typer.Option(
            "--list", help="the images to export (a Hangar list)", exists=True, dir_okay=False
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="the new archive")],
) -> None:
    """Write the images a list names into a new, smaller archive."""
    from hangard.cli.archive import _list_lines

    lines = _list_lines(list_file)

    async def work() -> int:
        import asyncio

        from hangard.archive.combine import carry, pick

        chosen, missing = await asyncio.to_thread(pick, file, lines)
        for line in missing:
            typer.echo(
                f"{list_file}:{line.line}: {line.source}:{line.tag} is not in {file}", err=True
            )
        if missing:
            return ExitCode.FAILED
        async with registry_client([]) as client:
            return _carried(await carry(client, chosen, output))

    raise typer.Exit(run_async(work()))


def _carried(done: Carried) -> int:
    for name, error in done.failures:
        typer.echo(f"FAILED {name}: {error.message}", err=True)
    if not done.ok:
        typer.echo(f"{done.output} not written", err=True)
        return ExitCode.FAILED
    typer.echo(f"{done.output}: {len(done.results)} images")
    return ExitCode.OK


@archive_app.command()
def diff(
    file: ArchiveArg,
    against: Annotated[
        str,
        typer.Option("--against", metavar="REGISTRY[/PREFIX]", help="the registry to compare with"),
    ],
    project: Annotated[str | None, typer.Option("--project", help="as load --project")] = None,
    tls_verify: TlsVerify = "true",
    plain_http: Annotated[
        bool, typer.Option("--plain-http", help="the registry speaks plain HTTP")
    ] = False,
    creds: Annotated[
        str | None, typer.Option(metavar="USER:PASS", help="registry credentials")
    ] = None,
    authfile: AuthFile = None,
    output: Output = OutputFormat.text,
) -> None:
    """What a registry lacks of an archive (nothing is written). Exit 0 it
    holds everything, 2 something is missing or different, 1 errors."""
    from hangard.archive import parse_to

    try:
        target = parse_to(against)
    except InputError as exc:
        raise typer.BadParameter(exc.message, param_hint="--against") from None

    async def work() -> int:
        from hangard.archive.diff import Presence, diff_archive

        assert target.registry is not None
        client = registry_client(
            [target.registry], tls_verify=parse_bool(tls_verify), plain_http=plain_http,
            creds=parse_creds(creds, "--creds"), authfile=authfile,
        )  # fmt: skip
        async with client:
            rows = await diff_archive(client, file, target, project=project)
        if output is OutputFormat.json:
            typer.echo(
                json.dumps(
                    [{**r.__dict__, "destination": str(r.destination)} for r in rows], indent=2
                )
            )
        else:
            for r in rows:
                extra = f" (has {r.found})" if r.presence is Presence.DIFFERENT and r.found else ""
                extra += f": {r.note}" if r.note else ""
                extra += f": {r.error}" if r.error else ""
                typer.echo(f"{r.presence.value:<9} {r.name} -> {r.destination}{extra}")
        kinds = {r.presence for r in rows}
        if Presence.ERROR in kinds:
            return ExitCode.FAILED
        lacking = kinds & {Presence.MISSING, Presence.DIFFERENT}
        return ExitCode.USAGE if lacking else ExitCode.OK

    raise typer.Exit(run_async(work(), CliHints(default="--")))
