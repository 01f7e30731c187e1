"""``hangard archive ls`` and ``verify``: look into and check an archive.
They parse and print; :mod:`hangard.archive` reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hangard.cli._common import ExitCode, OutputFormat, run_async
from hangard.cli.archive import archive_app
from hangard.cli.load import ArchiveArg

__all__ = ["ls", "verify"]


@archive_app.command()
def ls(
    file: ArchiveArg,
    output: Annotated[OutputFormat, typer.Option("--output", "-o")] = OutputFormat.text,
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
