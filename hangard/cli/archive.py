"""Air-gap commands: ``save`` (images → a Hangar zip archive), ``load``
(an archive → a registry) and ``archive sync`` (Hangar's name for
``save --append``). They parse and print; :mod:`hangard.archive` works."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hangard.cli._common import (
    AuthFile,
    ExitCode,
    InsecurePolicy,
    NoAttachments,
    PolicyFile,
    Progress,
    RemoveSignatures,
    TlsVerify,
    app,
    config_client,
    load_settings,
    parse_bool,
    parse_creds,
    parse_image,
    parse_platforms,
    registry_client,
    run_async,
)
from hangard.cli.flags import Quiet, Retries, RetryDelay, RetryTimes, at_least, quiet_logging
from hangard.errors import InputError
from hangard.hints import CliHints

if TYPE_CHECKING:
    from hangard.archive import SaveItem
    from hangard.archive.save import SaveReport
    from hangard.config.loader import LoadedConfig
    from hangard.core.desired import ListLine
    from hangard.core.platform import Platform
    from hangard.registry.client import RegistryClient

__all__ = ["archive_app", "archive_sync", "save"]

archive_app = typer.Typer(
    name="archive",
    help="Look into, check and combine Hangar zip archives.",
    no_args_is_help=True,
)
app.add_typer(archive_app)

ListOption = Annotated[
    Path | None,
    typer.Option("--list", help="a Hangar image list", exists=True, dir_okay=False),
]
Platforms = Annotated[
    list[str] | None,
    typer.Option("--platform", "-p", help="keep only this os/arch[/variant]; repeatable"),
]
Jobs = Annotated[
    int,
    typer.Option(
        "--jobs", "-j", metavar="N", callback=at_least(1, high=64), help="images in flight, 1..64"
    ),
]
CaFile = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="CA bundle for the registries")
]
PlainHttp = Annotated[bool, typer.Option("--plain-http", help="the registries speak plain HTTP")]
Creds = Annotated[str | None, typer.Option(metavar="USER:PASS", help="registry credentials")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="a desired-state file", exists=True, dir_okay=False),
]


def _list_lines(path: Path) -> list[ListLine]:
    """A list file's lines, or its problems printed and exit 2."""
    from hangard.config.hangarlist import parse_hangar_list

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {path}: {exc}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    parsed = parse_hangar_list(text, str(path))
    for problem in parsed.problems:
        typer.echo(str(problem), err=True)
    if parsed.problems:
        raise typer.Exit(ExitCode.USAGE)
    return parsed.lines


def _reporter(show: bool) -> Any:
    if not show:
        return None
    from hangard.cli.display import RichProgress

    return RichProgress()


@app.command()
def save(
    ctx: typer.Context,
    images: Annotated[
        list[str] | None, typer.Argument(metavar="[IMAGE]...", help="images to save")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="the archive: FILE.zip")] = Path(),
    list_file: ListOption = None,
    config: ConfigOption = None,
    platform: Platforms = None,
    jobs: Jobs = 4,
    append: Annotated[
        bool, typer.Option("--append", help="add to an existing archive (Hangar's sync)")
    ] = False,
    part_size: Annotated[
        str | None, typer.Option(metavar="SIZE", help="write parts of SIZE (4GiB, 700MB)")
    ] = None,
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            metavar="OLD.zip",
            exists=True,
            dir_okay=False,
            help="write a delta: leave out the layers OLD.zip holds",
        ),
    ] = None,
    tls_verify: TlsVerify = "true",
    ca_file: CaFile = None,
    plain_http: PlainHttp = False,
    creds: Creds = None,
    authfile: AuthFile = None,
    retry_times: RetryTimes = None,
    retry_delay: RetryDelay = None,
    progress: Progress = None,
    no_attachments: NoAttachments = False,
    remove_signatures: RemoveSignatures = False,
    policy: PolicyFile = None,
    insecure_policy: InsecurePolicy = None,
    quiet: Quiet = False,
) -> None:
    """Save images (named, from --list, or all a --config selects) into a
    Hangar zip archive, with their signatures, attestations and SBOMs under
    their cosign tags; with a policy, once they meet it. Rerun the same
    command to resume an interrupted save."""
    if quiet:
        quiet_logging(ctx)
    _save_command(
        images or [], output, list_file, config, platform or [], jobs, append,
        (part_size, since),
        (tls_verify, ca_file, plain_http, creds, authfile, Retries(retry_times, retry_delay)),
        False if quiet else progress, quiet, (no_attachments, remove_signatures),
        (policy, insecure_policy),
    )  # fmt: skip


@archive_app.command("sync")
def archive_sync(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.zip", help="the archive to add to")],
    images: Annotated[
        list[str] | None, typer.Argument(metavar="[IMAGE]...", help="images to add")
    ] = None,
    list_file: ListOption = None,
    config: ConfigOption = None,
    platform: Platforms = None,
    jobs: Jobs = 4,
    tls_verify: TlsVerify = "true",
    ca_file: CaFile = None,
    plain_http: PlainHttp = False,
    creds: Creds = None,
    authfile: AuthFile = None,
    retry_times: RetryTimes = None,
    retry_delay: RetryDelay = None,
    progress: Progress = None,
    no_attachments: NoAttachments = False,
    remove_signatures: RemoveSignatures = False,
    policy: PolicyFile = None,
    insecure_policy: InsecurePolicy = None,
    quiet: Quiet = False,
) -> None:
    """Add images to an archive (Hangar's sync; the same as save --append)."""
    if quiet:
        quiet_logging(ctx)
    _save_command(
        images or [], file, list_file, config, platform or [], jobs, True, (None, None),
        (tls_verify, ca_file, plain_http, creds, authfile, Retries(retry_times, retry_delay)),
        False if quiet else progress, quiet, (no_attachments, remove_signatures),
        (policy, insecure_policy),
    )  # fmt: skip


Access = tuple[str, Path | None, bool, str | None, Path | None, Retries]
"""``--tls-verify``, ``--ca-file``, ``--plain-http``, ``--creds``, ``--authfile``,
``--retry-times`` and ``--retry-delay``."""


def _client(hosts: list[str], access: Access, loaded: LoadedConfig | None) -> RegistryClient:
    tls, ca_file, plain_http, creds, authfile, retries = access
    if loaded is not None:
        return config_client(loaded, load_settings(), retries=retries)
    return registry_client(
        hosts,
        tls_verify=parse_bool(tls),
        ca_file=ca_file,
        plain_http=plain_http,
        creds=parse_creds(creds, "--creds"),
        authfile=authfile,
        retries=retries,
    )


def _save_command(
    images: list[str],
    output: Path,
    list_file: Path | None,
    config: Path | None,
    platform: list[str],
    jobs: int,
    append: bool,
    layout: tuple[str | None, Path | None],
    access: Access,
    progress: bool | None,
    quiet: bool = False,
    attached: tuple[bool, bool] = (False, False),
    trust_flags: tuple[Path | None, bool | None] = (None, None),
) -> None:
    from hangard.archive import from_lines, from_references, parse_size
    from hangard.archive.save import SaveOptions
    from hangard.archive.sources import with_policy
    from hangard.cli.trust import command_trust
    from hangard.core.attachments import AttachmentSettings

    if output == Path():
        raise typer.BadParameter("give the archive with -o FILE.zip", param_hint="--output")
    if not (images or list_file or config):
        raise typer.BadParameter("name images, or give --list FILE or --config FILE")
    wanted = parse_platforms(platform)
    part_size, since = layout
    try:
        size = parse_size(part_size) if part_size else None
    except InputError as exc:
        raise typer.BadParameter(exc.message, param_hint="--part-size") from None
    items = from_references([parse_image(i) for i in images], wanted)
    if list_file is not None:
        items += from_lines(_list_lines(list_file), wanted)
    trust, loaded = command_trust(*trust_flags, config)
    items = with_policy(items, trust)
    settings = None if attached[0] else AttachmentSettings(signatures=not attached[1])
    options = SaveOptions(output, jobs, append, size, since, attachments=settings)
    hosts = sorted({i.source.registry for i in items})
    show = sys.stderr.isatty() if progress is None else progress

    async def work() -> int:
        from hangard.archive.save import save as run_save

        async with _client(hosts, access, loaded) as client:
            chosen = items + (await _desired_items(client, loaded, wanted) if loaded else [])
            reporter = _reporter(show)
            with reporter or contextlib.nullcontext():
                report = await run_save(client, chosen, options, progress=reporter)
        _print_save(report, quiet)
        return ExitCode.OK if report.ok else ExitCode.FAILED

    raise typer.Exit(run_async(work(), CliHints(default="--")))


async def _desired_items(
    client: RegistryClient, loaded: LoadedConfig, platforms: list[Platform]
) -> list[SaveItem]:
    """Everything the desired state selects (its tag rules listed now)."""
    from hangard.archive import from_desired
    from hangard.core.plan import pattern_repositories
    from hangard.sync.cycle import list_pattern_tags

    state = loaded.state
    tags = await list_pattern_tags(client, pattern_repositories(state))
    items, problems = from_desired(state, tags, platforms)
    for problem in problems:
        typer.echo(f"error: {problem.image}: tags not listed: {problem.message}", err=True)
    if problems:
        raise typer.Exit(ExitCode.FAILED)
    return items


def _print_save(report: SaveReport, quiet: bool = False) -> None:
    from hangard.render import human_size

    for item, error in report.failures:
        typer.echo(f"FAILED {item.source}: {error.message} [{error.reason}]", err=True)
    if not quiet:
        for r in report.results:
            state = "in the archive" if r.up_to_date else "saved"
            typer.echo(f"{state} {r.source}  {r.target_digest}")
        for r in report.skipped:
            typer.echo(f"skipped {r.source}: {r.skipped}")
        how = " (resumed an interrupted save)" if report.resumed else ""
        how += " (appended)" if report.appended else ""
        typer.echo(
            f"save: {len(report.results)} images, {len(report.failures)} failed, "
            f"{human_size(report.bytes_moved)} written in {report.duration:.1f}s{how}"
        )
    if report.committed:
        if not quiet:
            typer.echo(f"archive: {report.output}")
    else:
        typer.echo(
            f"{report.output} is not finished (kept as a partial file): "
            "fix the failures and rerun the same command to resume",
            err=True,
        )
