"""``hangard copy`` and the registry options the one-image commands share. They parse and print;
:mod:`hangard.copy` and :mod:`hangard.registry` do the work."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hangard import __version__
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
    TlsVerify,
    app,
    parse_bool,
    parse_creds,
    parse_platforms,
    parse_store_image,
    run_async,
)
from hangard.cli.flags import (
    DestAuthFile,
    Quiet,
    Retries,
    RetryDelay,
    RetryTimes,
    SrcAuthFile,
    quiet_logging,
)
from hangard.core.reference import ImageReference
from hangard.core.transports import LayoutReference
from hangard.hints import CliHints
from hangard.registry.options import ClientOptions, RegistryOptions

if TYPE_CHECKING:
    from hangard.copy import Copier, CopyResult
    from hangard.core.policy import Trust
    from hangard.registry.client import RegistryClient
    from hangard.registry.credentials import Credentials

__all__ = ["client_for", "copy", "registry_options"]

RegistrySettings = dict[str, tuple[RegistryOptions, "Credentials | None"]]


def registry_options(
    tls_verify: str, ca_file: Path | None, plain_http: bool, cert_dir: Path | None = None
) -> RegistryOptions:
    return RegistryOptions(
        tls_verify=parse_bool(tls_verify),
        ca_file=str(ca_file) if ca_file else None,
        cert_dir=str(cert_dir) if cert_dir else None,
        http=plain_http,
    )


def _cert_dir(side: str) -> Any:
    return typer.Option(
        metavar="DIR",
        exists=True,
        file_okay=False,
        help=f"certificates for the {side} registry, docker certs.d style: *.crt CAs, "
        "client.cert + client.key for mutual TLS (default: /etc/containers/certs.d/HOST[:PORT] "
        "or /etc/docker/certs.d/HOST[:PORT])",
    )


def client_for(
    settings: RegistrySettings,
    authfile: Path | None,
    retries: Retries | None = None,
    host_authfiles: dict[str, Path] | None = None,
) -> RegistryClient:
    """A client for the registries of ``settings``; ``host_authfiles`` are
    the per-side auth files (``--src-authfile``, ``--dest-authfile``)."""
    from hangard.registry.client import RegistryClient
    from hangard.registry.credentials import CredentialStore

    overrides = {host: creds for host, (_, creds) in settings.items() if creds is not None}
    options = ClientOptions(
        registries={host: opts for host, (opts, _) in settings.items()},
        user_agent=f"hangard/{__version__}",
    ).with_retries(*(retries or Retries()))
    store = CredentialStore(authfile=authfile, overrides=overrides, host_authfiles=host_authfiles)
    return RegistryClient(options, store)


def _side_authfiles(
    src: object, dst: object, src_authfile: Path | None, dest_authfile: Path | None
) -> dict[str, Path]:
    """Each side's own auth file by host; on one host, the destination's wins."""
    found: dict[str, Path] = {}
    for ref, path in ((src, src_authfile), (dst, dest_authfile)):
        if isinstance(ref, ImageReference) and path is not None:
            found[ref.registry] = path
    return found


@app.command()
def copy(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            metavar="SRC",
            help="docker://registry/repo[:tag|@digest], oci:DIR[:TAG] "
            "or hangar-archive:FILE.zip[:IMAGE]",
        ),
    ],
    destination: Annotated[
        str,
        typer.Argument(
            metavar="DST",
            help="docker://registry/repo[:tag], oci:DIR[:TAG] or hangar-archive:FILE.zip[:IMAGE]; "
            "without a tag (or IMAGE), the source's is used",
        ),
    ],
    all_platforms: Annotated[
        bool,
        typer.Option(
            "--all", "-a", help="copy every platform of an index, keeping its digest (the default)"
        ),
    ] = False,
    platform: Annotated[
        list[str] | None,
        typer.Option("--platform", "-p", help="copy only this os/arch[/variant]; repeatable"),
    ] = None,
    src_tls_verify: TlsVerify = "true",
    dest_tls_verify: TlsVerify = "true",
    src_ca_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CA bundle for the source registry"),
    ] = None,
    dest_ca_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CA bundle for the destination registry"),
    ] = None,
    src_cert_dir: Annotated[Path | None, _cert_dir("source")] = None,
    dest_cert_dir: Annotated[Path | None, _cert_dir("destination")] = None,
    src_plain_http: Annotated[
        bool, typer.Option("--src-plain-http", help="source speaks plain HTTP")
    ] = False,
    dest_plain_http: Annotated[
        bool, typer.Option("--dest-plain-http", help="destination speaks plain HTTP")
    ] = False,
    src_creds: Annotated[
        str | None, typer.Option(metavar="USER:PASS", help="credentials for the source registry")
    ] = None,
    dest_creds: Annotated[
        str | None,
        typer.Option(metavar="USER:PASS", help="credentials for the destination registry"),
    ] = None,
    authfile: AuthFile = None,
    src_authfile: SrcAuthFile = None,
    dest_authfile: DestAuthFile = None,
    retry_times: RetryTimes = None,
    retry_delay: RetryDelay = None,
    digestfile: Annotated[
        Path | None,
        typer.Option(
            "--digestfile",
            metavar="FILE",
            dir_okay=False,
            help="write the digest of the image at the destination to FILE",
        ),
    ] = None,
    fail_on_no_match: Annotated[
        bool,
        typer.Option(
            "--fail-on-no-match",
            help="exit 1 when --platform matches nothing (default: a warning, exit 0)",
        ),
    ] = False,
    output: Output = OutputFormat.text,
    progress: Progress = None,
    policy: PolicyFile = None,
    insecure_policy: InsecurePolicy = None,
    no_attachments: NoAttachments = False,
    remove_signatures: RemoveSignatures = False,
    quiet: Quiet = False,
) -> None:
    """Copy an image, or a whole multi-arch index, keeping its digest, with its signatures,
    attestations and SBOMs (registry to registry); with --policy, once they meet it."""
    src = parse_store_image(source)
    dst = parse_store_image(destination)
    if all_platforms and platform:
        raise typer.BadParameter("--all and --platform exclude each other", param_hint="--all")
    if quiet:
        quiet_logging(ctx)
    wanted = parse_platforms(platform or [])
    settings = _copy_settings(
        src if isinstance(src, ImageReference) else None,
        dst if isinstance(dst, ImageReference) else None,
        (
            registry_options(src_tls_verify, src_ca_file, src_plain_http, src_cert_dir),
            parse_creds(src_creds, "--src-creds"),
        ),
        (
            registry_options(dest_tls_verify, dest_ca_file, dest_plain_http, dest_cert_dir),
            parse_creds(dest_creds, "--dest-creds"),
        ),
    )
    show_progress = not quiet and (sys.stderr.isatty() if progress is None else progress)
    host_authfiles = _side_authfiles(src, dst, src_authfile, dest_authfile)
    retries = Retries(retry_times, retry_delay)
    trust = _trust(policy, insecure_policy)

    async def work() -> int:
        from hangard.copy import Copier, TransferSession, verify_copy_source
        from hangard.copy.progress import ITEM_LABEL

        async with client_for(settings, authfile, retries, host_authfiles) as client:
            source = await verify_copy_source(client, trust, src)
            reporter: Any = contextlib.nullcontext()
            session = TransferSession(client)
            if show_progress:
                from hangard.cli.display import RichProgress

                reporter = RichProgress()
                session.progress = reporter
            copier = Copier(client, session)
            ITEM_LABEL.set(f"{src} -> {dst}")
            try:
                with reporter:
                    result = await copier.copy(source, dst, platforms=wanted)
                attached = []
                if isinstance(src, ImageReference) and not isinstance(dst, LayoutReference):
                    attached = await _attachments(copier, result, no_attachments, remove_signatures)
                await copier.commit()
            finally:
                await copier.close()
        return _report_copy(result, output, quiet, digestfile, fail_on_no_match, attached)

    sides = {
        ref.registry: flag  # one host: the --src- settings
        for ref, flag in ((dst, "--dest-"), (src, "--src-"))
        if isinstance(ref, ImageReference)
    }
    raise typer.Exit(run_async(work(), CliHints(sides)))


def _trust(policy: Path | None, insecure_policy: bool | None) -> Trust:
    from hangard.cli.trust import option_trust

    return option_trust(policy, insecure_policy)


async def _attachments(
    copier: Copier, result: CopyResult, no_attachments: bool, remove_signatures: bool
) -> list[str]:
    """Copy what is attached to the image copied from a registry to a
    registry, or save it beside the image copied into an archive."""
    from hangard.copy.archived import save_image_attachments
    from hangard.copy.attachments import copy_image_attachments
    from hangard.core.attachments import AttachmentSettings
    from hangard.core.reference import parse_reference
    from hangard.core.transports import ArchiveReference, parse_store_reference

    src, dst = parse_reference(result.source), parse_store_reference(result.target)
    if no_attachments or result.skipped or result.converted_from:
        return []
    settings = AttachmentSettings(signatures=not remove_signatures)
    platforms = (
        parse_platforms(list(result.platforms))
        if result.target_digest != result.source_digest
        else []
    )
    pinned = src.with_digest(result.source_digest)
    if isinstance(dst, ArchiveReference):
        done = await save_image_attachments(copier, pinned, dst, platforms, settings)
    elif isinstance(dst, ImageReference):
        done = await copy_image_attachments(copier, pinned, dst.repository, platforms, settings)
    else:
        return []
    return [a.describe() for a in done]


def _report_copy(
    result: CopyResult,
    output: OutputFormat,
    quiet: bool,
    digestfile: Path | None,
    fail_on_no_match: bool,
    attached: list[str],
) -> int:
    """Log and print ``result``, write ``--digestfile``; the exit code."""
    import structlog

    from hangard.render import render_copy_result, result_json

    # debug: the result is printed below; on a TTY an info line would say it twice
    structlog.get_logger("hangard.cli").debug("copy finished", **result.as_dict())
    if result.skipped:
        # Hangar's behaviour: nothing to copy is not a failure, unless asked
        typer.echo(f"warning: {result.source}: {result.skipped}", err=True)
    elif digestfile is not None and result.target_digest:
        digestfile.write_text(result.target_digest)  # no newline, as skopeo writes it
    if output is OutputFormat.json:
        typer.echo(result_json(result, attachments=attached or None))
    elif not quiet and not result.skipped:
        typer.echo(render_copy_result(result))
        if attached:
            typer.echo(f"attachments: {len(attached)} copied: {', '.join(attached)}")
    return ExitCode.FAILED if result.skipped and fail_on_no_match else ExitCode.OK


def _copy_settings(
    src: ImageReference | None,
    dst: ImageReference | None,
    src_side: tuple[RegistryOptions, Credentials | None],
    dst_side: tuple[RegistryOptions, Credentials | None],
) -> RegistrySettings:
    """Each registry side's options and credentials; one host (both sides
    on it) takes the source's options and the destination's credentials
    when given."""
    settings: RegistrySettings = {}
    if src is not None:
        settings[src.registry] = src_side
    if dst is not None:
        if dst.registry in settings:
            opts, creds = settings[dst.registry]
            settings[dst.registry] = (opts, dst_side[1] or creds)
        else:
            settings[dst.registry] = dst_side
    return settings
