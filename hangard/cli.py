"""The ``hangard`` command line. It parses arguments and prints; the work is
done by the library (:mod:`hangard.copy`, :mod:`hangard.registry`).

Exit codes: 0 ok, 1 an operation failed, 2 bad usage or input.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from hangard import __version__
from hangard.core.platform import Platform, parse_platform
from hangard.core.reference import ImageReference, parse_reference
from hangard.errors import HangardError, InputError
from hangard.registry.options import ClientOptions, RegistryOptions

if TYPE_CHECKING:
    from hangard.registry.client import RegistryClient
    from hangard.registry.credentials import Credentials

# The commands import what they work with (httpx, pydantic, structlog, ...)
# when they run: shell completion and ``--version`` start the program on every
# key press, and should not pay for the whole stack.

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="hangard",
    help="Keep container images mirrored between registries, digest for digest.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class LogFormat(StrEnum):
    auto = "auto"
    json = "json"
    console = "console"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hangard {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    log_level: Annotated[
        str, typer.Option(envvar="HANGARD_LOG_LEVEL", help="debug, info, warning, error")
    ] = "info",
    log_format: Annotated[
        LogFormat,
        typer.Option(
            envvar="HANGARD_LOG_FORMAT", help="auto: console on a TTY, JSON lines otherwise"
        ),
    ] = LogFormat.auto,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    from hangard.log import configure_logging

    configure_logging(log_level, log_format.value)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning hangard errors into a message and exit code."""
    import asyncio

    try:
        return asyncio.run(coro)
    except HangardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        context = getattr(exc, "context", None)
        if context is not None and context.describe():
            typer.echo(f"  where: {context.describe()}", err=True)
        if exc.remedy:
            typer.echo(f"  hint: {exc.remedy}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _reference(text: str) -> ImageReference:
    try:
        return parse_reference(text)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


def _creds(text: str | None, flag: str) -> Credentials | None:
    if text is None:
        return None
    from hangard.registry.credentials import parse_user_pass

    try:
        return parse_user_pass(text)
    except InputError as exc:
        # the message never shows the value: it holds a password
        raise typer.BadParameter(str(exc), param_hint=flag) from None


def _registry_options(tls_verify: str, ca_file: Path | None, plain_http: bool) -> RegistryOptions:
    return RegistryOptions(
        tls_verify=_parse_bool(tls_verify),
        ca_file=str(ca_file) if ca_file else None,
        http=plain_http,
    )


def _client(
    settings: dict[str, tuple[RegistryOptions, Credentials | None]], authfile: Path | None
) -> RegistryClient:
    from hangard.registry.client import RegistryClient
    from hangard.registry.credentials import CredentialStore

    overrides = {host: creds for host, (_, creds) in settings.items() if creds is not None}
    options = ClientOptions(
        registries={host: opts for host, (opts, _) in settings.items()},
        user_agent=f"hangard/{__version__}",
    )
    store = CredentialStore(authfile=authfile, overrides=overrides)
    return RegistryClient(options, store)


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise typer.BadParameter(f"expected true or false, got {value!r}")


TlsVerify = Annotated[
    str,
    typer.Option(
        metavar="BOOL",
        help="verify TLS certificates; false also allows plain HTTP (skopeo style: --x-tls-verify=false)",
    ),
]
AuthFile = Annotated[
    Path | None,
    typer.Option(
        "--authfile",
        help="docker/containers auth file to use instead of the default search",
        exists=True,
        dir_okay=False,
    ),
]


@app.command()
def inspect(
    image: Annotated[str, typer.Argument(metavar="docker://IMAGE", help="image reference")],
    raw: Annotated[bool, typer.Option("--raw", help="print the exact manifest bytes")] = False,
    config: Annotated[bool, typer.Option("--config", help="print the image config blob")] = False,
    platform: Annotated[
        str | None, typer.Option(help="on an index: show this platform's manifest (or config)")
    ] = None,
    tls_verify: TlsVerify = "true",
    ca_file: Annotated[
        Path | None,
        typer.Option(help="CA bundle to trust for this registry", exists=True, dir_okay=False),
    ] = None,
    plain_http: Annotated[bool, typer.Option("--plain-http", help="talk plain HTTP")] = False,
    creds: Annotated[
        str | None, typer.Option(metavar="USER:PASS", help="registry credentials")
    ] = None,
    authfile: AuthFile = None,
) -> None:
    """Show an image's manifest: a summary, the raw bytes, or its config."""
    ref = _reference(image)
    wanted = _platforms([platform] if platform else [])

    async def work() -> None:
        settings = {
            ref.registry: (
                _registry_options(tls_verify, ca_file, plain_http),
                _creds(creds, "--creds"),
            )
        }
        async with _client(settings, authfile) as client:
            manifest = await client.get_manifest(ref)
            name = str(ref)
            if manifest.is_index and (wanted or config):
                # --platform (or --config, which needs one image) picks a child
                matches = [
                    d
                    for d in manifest.children
                    if d.platform
                    and not d.platform.is_unknown
                    and (not wanted or any(w.matches(d.platform) for w in wanted))
                ]
                if not matches:
                    raise InputError(f"{ref} is an index with no entry for the platform")
                manifest = await client.get_manifest(ref.with_digest(matches[0].digest))
                name = f"{ref} ({matches[0].platform})"
            if config:
                if manifest.config is None:
                    raise InputError(f"{ref} ({manifest.media_type}) has no config blob")
                data = await client.get_blob(ref.repository, manifest.config.digest)
                if raw:
                    sys.stdout.buffer.write(data)
                else:
                    typer.echo(json.dumps(json.loads(data), indent=2))
                return
            if raw:
                sys.stdout.buffer.write(manifest.raw)
                sys.stdout.buffer.flush()
                return
            from hangard.render import render_manifest

            typer.echo(render_manifest(name, manifest))

    _run(work())


def _platforms(values: list[str]) -> list[Platform]:
    try:
        return [parse_platform(v) for v in values]
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--platform") from None


@app.command()
def copy(
    source: Annotated[
        str, typer.Argument(metavar="SRC", help="docker://registry/repo[:tag|@digest]")
    ],
    destination: Annotated[
        str,
        typer.Argument(
            metavar="DST",
            help="docker://registry/repo[:tag]; without a tag, the source's tag is used",
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
    src_plain_http: Annotated[
        bool, typer.Option("--src-plain-http", help="source speaks plain HTTP")
    ] = False,
    dest_plain_http: Annotated[
        bool, typer.Option("--dest-plain-http", help="destination speaks plain HTTP")
    ] = False,
    src_creds: Annotated[str | None, typer.Option(metavar="USER:PASS")] = None,
    dest_creds: Annotated[str | None, typer.Option(metavar="USER:PASS")] = None,
    authfile: AuthFile = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="result format")
    ] = OutputFormat.text,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="progress bars (default: on a TTY)"),
    ] = None,
) -> None:
    """Copy an image, or a whole multi-arch index, keeping its digest."""
    src = _reference(source)
    dst = _reference(destination)
    if all_platforms and platform:
        raise typer.BadParameter("--all and --platform exclude each other", param_hint="--all")
    wanted = _platforms(platform or [])
    src_opts = _registry_options(src_tls_verify, src_ca_file, src_plain_http)
    dst_opts = _registry_options(dest_tls_verify, dest_ca_file, dest_plain_http)
    if src.registry == dst.registry and src_opts != dst_opts:
        dst_opts = src_opts  # one host, one set of settings
    settings = {src.registry: (src_opts, _creds(src_creds, "--src-creds"))}
    dst_creds_value = _creds(dest_creds, "--dest-creds")
    if dst.registry in settings:
        opts, creds = settings[dst.registry]
        settings[dst.registry] = (opts, dst_creds_value or creds)
    else:
        settings[dst.registry] = (dst_opts, dst_creds_value)
    show_progress = sys.stderr.isatty() if progress is None else progress

    async def work() -> int:
        import structlog

        from hangard.copy import Copier, TransferSession
        from hangard.render import render_copy_result, result_json

        async with _client(settings, authfile) as client:
            reporter: Any = contextlib.nullcontext()
            session = TransferSession(client)
            if show_progress:
                from hangard.progress import RichProgress

                reporter = RichProgress()
                session.progress = reporter
            with reporter:
                result = await Copier(client, session).copy(src, dst, platforms=wanted)
        structlog.get_logger("hangard.cli").info("copy finished", **result.as_dict())
        if output is OutputFormat.json:
            typer.echo(result_json(result))
        else:
            typer.echo(render_copy_result(result))
        return 0

    raise typer.Exit(_run(work()))


@app.command()
def version() -> None:
    """Print the hangard version."""
    typer.echo(f"hangard {__version__}")


def main() -> None:
    # a fixed name: under ``python -m hangard`` click would call the program
    # "python -m hangard", which breaks the shell completion scripts
    app(prog_name="hangard")


# the desired-state commands register themselves on ``app``
from hangard import cli_desired  # noqa: E402, F401

if __name__ == "__main__":
    main()
