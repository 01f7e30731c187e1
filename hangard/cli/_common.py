"""What every command shares: the typer app, output formats, the parsers of
option values, exit codes, and running a coroutine with hangard's errors
turned into a message and an exit code.

Only typer and hangard's light modules are imported here: shell completion
and ``--version`` start the program on every key press.
"""

from __future__ import annotations

from collections.abc import Coroutine
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from hangard import __version__
from hangard.core.platform import Platform, parse_platform
from hangard.core.reference import ImageReference, parse_reference
from hangard.core.transports import StoreReference, parse_store_reference
from hangard.errors import ConfigError, HangardError, InputError
from hangard.hints import CONFIG_HINTS, HintWriter

if TYPE_CHECKING:
    from hangard.config.loader import LoadedConfig
    from hangard.log import LogFormat as LogFormatName
    from hangard.registry.client import RegistryClient
    from hangard.registry.credentials import Credentials
    from hangard.settings import Settings

__all__ = [
    "AuthFile",
    "ExitCode",
    "InsecurePolicy",
    "LogFormat",
    "LogLevel",
    "Output",
    "OutputFormat",
    "PolicyFile",
    "Progress",
    "TlsVerify",
    "app",
    "config_client",
    "load_config",
    "load_settings",
    "parse_bool",
    "parse_creds",
    "parse_image",
    "parse_platforms",
    "parse_store_image",
    "registry_client",
    "run_async",
]

T = TypeVar("T")


class ExitCode(IntEnum):
    """hangard's exit codes."""

    OK = 0
    FAILED = 1
    """An operation failed (a copy, a lookup, an online check)."""
    USAGE = 2
    """Bad usage or input (an option, a reference, a config file)."""
    INTERRUPTED = 130


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


Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="output format")]
Progress = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="progress bars (default: on a TTY)"),
]


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(StrEnum):
    auto = "auto"
    json = "json"
    console = "console"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hangard {__version__}")
        raise typer.Exit(ExitCode.OK)


def _choice(ctx: typer.Context, name: str, value: str, kind: type[StrEnum]) -> str:
    """``value`` if it is one of ``kind``; else one line naming where it came
    from (``HANGARD_LOG_LEVEL=bogus`` or ``--log-level bogus``) and exit 2."""
    lowered = value.strip().lower()
    if lowered in {member.value for member in kind}:
        return lowered
    option = f"--{name.replace('_', '-')}"
    given = f"{option} {value}"
    source = ctx.get_parameter_source(name)
    if source is not None and source.name == "ENVIRONMENT":
        given = f"HANGARD_{name.upper()}={value}"
    choices = ", ".join(member.value for member in kind)
    typer.echo(f"error: {given}: expected one of {choices}", err=True)
    raise typer.Exit(ExitCode.USAGE)


@app.callback()
def _root(
    ctx: typer.Context,
    log_level: Annotated[
        str,
        typer.Option(
            envvar="HANGARD_LOG_LEVEL",
            metavar="[debug|info|warning|error]",
            show_envvar=True,
            help="the least severe log events written to stderr",
        ),
    ] = LogLevel.info.value,
    log_format: Annotated[
        str,
        typer.Option(
            envvar="HANGARD_LOG_FORMAT",
            metavar="[auto|json|console]",
            show_envvar=True,
            help="auto: console on a TTY, JSON lines otherwise",
        ),
    ] = LogFormat.auto.value,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    from hangard.log import configure_logging

    level = _choice(ctx, "log_level", log_level, LogLevel)
    fmt = _choice(ctx, "log_format", log_format, LogFormat)
    configure_logging(level, cast("LogFormatName", fmt))


def run_async(coro: Coroutine[Any, Any, T], hints: HintWriter = CONFIG_HINTS) -> T:
    """Run a coroutine, turning hangard errors into a message and exit code.

    ``hints`` writes an error's hint for this command: its flags
    (:class:`~hangard.hints.CliHints`), or by default the config's keys.
    """
    from hangard.aio import run

    try:
        return run(coro)
    except HangardError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        if exc.context.describe():
            typer.echo(f"  where: {exc.context.describe()}", err=True)
        remedy = hints.render(exc)
        if remedy:
            typer.echo(f"  hint: {remedy}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        # the copies in flight were cancelled and their uploads DELETEd
        typer.echo("interrupted", err=True)
        raise typer.Exit(ExitCode.INTERRUPTED) from None


# ---------------------------------------------------------------- option values


def parse_image(text: str) -> ImageReference:
    try:
        return parse_reference(text)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


def parse_store_image(text: str) -> StoreReference:
    """``docker://…`` or ``oci:DIR[:TAG]`` (see :mod:`hangard.core.transports`)."""
    try:
        return parse_store_reference(text)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None


def parse_creds(text: str | None, flag: str) -> Credentials | None:
    if text is None:
        return None
    from hangard.registry.credentials import parse_user_pass

    try:
        return parse_user_pass(text)
    except InputError as exc:
        # the message never shows the value: it holds a password
        raise typer.BadParameter(str(exc), param_hint=flag) from None


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise typer.BadParameter(f"expected true or false, got {value!r}")


def parse_platforms(values: list[str]) -> list[Platform]:
    try:
        return [parse_platform(v) for v in values]
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--platform") from None


TlsVerify = Annotated[
    str,
    typer.Option(
        metavar="BOOL",
        help="verify TLS certificates; false also allows plain HTTP (skopeo style: --x-tls-verify=false)",
    ),
]
NoAttachments = Annotated[
    bool,
    typer.Option(
        "--no-attachments", help="copy the images alone: no signatures, attestations, SBOMs"
    ),
]
RemoveSignatures = Annotated[
    bool,
    typer.Option("--remove-signatures", help="leave signatures behind (other attachments travel)"),
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
PolicyFile = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="FILE",
        help="containers policy.json to enforce, instead of the config's policy: ($HANGARD_POLICY)",
    ),
]
InsecurePolicy = Annotated[
    bool | None,
    typer.Option(
        "--insecure-policy",
        help="check no signatures: skip policy.json and verify.keys ($HANGARD_INSECURE_POLICY)",
    ),
]


ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="I/N",
        help="act only on the items shard I of N owns (default $HANGARD_SHARD, or the "
        "hostname's StatefulSet ordinal with $HANGARD_SHARDS)",
    ),
]


# ---------------------------------------------------------------- settings and config


def load_settings(**overrides: Any) -> Settings:
    """The environment's settings with the command line's on top; exit 2
    when they are invalid."""
    from hangard.settings import load_settings as load

    try:
        return load(**overrides)
    except ConfigError as exc:
        for problem in exc.problems or [exc.message]:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None


def load_config(path: Path, settings: Settings | None = None) -> LoadedConfig:
    """A valid desired-state file, or its problems printed and exit 2; with
    ``settings``, its ``policy`` and ``insecure_policy`` apply."""
    from hangard.config import load_config
    from hangard.config.trustfiles import TrustOptions

    trust = TrustOptions(settings.policy, settings.insecure_policy) if settings else None
    try:
        return load_config(path, check_secrets=True, trust=trust)
    except ConfigError as exc:
        for problem in exc.problems or [exc.message]:
            typer.echo(problem, err=True)
        typer.echo(f"{path}: invalid; run `hangard validate {path}`", err=True)
        raise typer.Exit(ExitCode.USAGE) from None


def config_client(
    loaded: LoadedConfig,
    settings: Settings,
    *,
    retries: tuple[int | None, float | None] = (None, None),
    authfile: Path | None = None,
) -> RegistryClient:
    """A registry client with the config's registries and credentials;
    ``retries`` (``--retry-times``, ``--retry-delay``) win over the config's,
    ``authfile`` replaces the auth-file search."""
    from hangard.config import client_options, credential_store
    from hangard.registry.client import RegistryClient

    try:
        store = credential_store(loaded, authfile=authfile)
    except ConfigError as exc:
        for problem in exc.problems or [exc.message]:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    options = client_options(loaded, global_concurrency=settings.concurrency)
    return RegistryClient(options.with_retries(*retries), store)


def registry_client(
    hosts: list[str],
    *,
    tls_verify: bool = True,
    ca_file: Path | None = None,
    plain_http: bool = False,
    creds: Credentials | None = None,
    authfile: Path | None = None,
    retries: tuple[int | None, float | None] = (None, None),
) -> RegistryClient:
    """A client with one set of TLS options, credentials and retries for
    every host named on the command line (``save``, ``load --to``)."""
    from hangard.registry.client import RegistryClient
    from hangard.registry.credentials import CredentialStore
    from hangard.registry.options import ClientOptions, RegistryOptions

    options = RegistryOptions(
        tls_verify=tls_verify, ca_file=str(ca_file) if ca_file else None, http=plain_http
    )
    client_options = ClientOptions(
        registries=dict.fromkeys(hosts, options), user_agent=f"hangard/{__version__}"
    ).with_retries(*retries)
    overrides = dict.fromkeys(hosts, creds) if creds is not None else {}
    return RegistryClient(client_options, CredentialStore(authfile=authfile, overrides=overrides))
