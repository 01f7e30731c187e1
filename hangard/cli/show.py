"""Commands that look without changing: ``inspect`` and ``tags``. They parse
and print; :mod:`hangard.inspecting`, :mod:`hangard.core.inspection` and
:mod:`hangard.core.tags` decide."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hangard.cli._common import (
    AuthFile,
    Output,
    OutputFormat,
    TlsVerify,
    app,
    parse_creds,
    parse_platforms,
    parse_store_image,
    run_async,
)
from hangard.cli.image import RegistrySettings, client_for, registry_options
from hangard.core.reference import ImageReference
from hangard.errors import InputError
from hangard.hints import CliHints

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hangard.core.manifest import Manifest
    from hangard.core.platform import Platform
    from hangard.core.tags import Rules
    from hangard.core.transports import StoreReference
    from hangard.stores.base import ImageStore

__all__ = ["inspect", "tags"]

Image = Annotated[
    str,
    typer.Argument(
        metavar="IMAGE",
        help="docker://HOST/REPO:TAG, oci:DIR[:TAG] or hangar-archive:FILE.zip[:IMAGE]",
    ),
]
CaFile = Annotated[
    Path | None,
    typer.Option(help="CA bundle to trust for this registry", exists=True, dir_okay=False),
]
CertDir = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        exists=True,
        file_okay=False,
        help="certificates in the docker certs.d layout: *.crt CAs, client.cert + client.key "
        "(default: /etc/containers/certs.d/HOST[:PORT] or /etc/docker/certs.d/HOST[:PORT])",
    ),
]
PlainHttp = Annotated[bool, typer.Option("--plain-http", help="talk plain HTTP")]
Creds = Annotated[str | None, typer.Option(metavar="USER:PASS", help="registry credentials")]


def _settings(
    ref: StoreReference,
    tls_verify: str,
    ca_file: Path | None,
    plain_http: bool,
    creds: str | None,
    cert_dir: Path | None = None,
) -> RegistrySettings:
    if not isinstance(ref, ImageReference):
        return {}
    options = registry_options(tls_verify, ca_file, plain_http, cert_dir)
    return {ref.registry: (options, parse_creds(creds, "--creds"))}


def _run_on_store(
    ref: StoreReference,
    settings: RegistrySettings,
    authfile: Path | None,
    show: Callable[[ImageStore], Awaitable[None]],
) -> None:
    async def work() -> None:
        from hangard.stores import open_store
        from hangard.stores.archive.opened import ArchiveSet

        archives = ArchiveSet()
        async with client_for(settings, authfile) as client:
            try:
                await show(open_store(ref, client, archives))
            finally:
                await archives.close()

    run_async(work(), CliHints(default="--"))


def _dump(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=4, ensure_ascii=False))


@app.command()
def inspect(
    image: Image,
    raw: Annotated[bool, typer.Option("--raw", help="print the exact manifest bytes")] = False,
    config: Annotated[bool, typer.Option("--config", help="print the image config blob")] = False,
    platform: Annotated[
        str | None, typer.Option(help="on an index: show this platform's manifest (or config)")
    ] = None,
    output: Output = OutputFormat.text,
    with_tags: Annotated[
        bool, typer.Option("--tags", help="with -o json: list the repository's tags as RepoTags")
    ] = False,
    override_os: Annotated[
        str | None, typer.Option(metavar="OS", help="with -o json: pick this OS from an index")
    ] = None,
    override_arch: Annotated[
        str | None,
        typer.Option(metavar="ARCH", help="with -o json: pick this architecture from an index"),
    ] = None,
    override_variant: Annotated[
        str | None,
        typer.Option(metavar="VARIANT", help="with -o json: pick this variant from an index"),
    ] = None,
    tls_verify: TlsVerify = "true",
    ca_file: CaFile = None,
    cert_dir: CertDir = None,
    plain_http: PlainHttp = False,
    creds: Creds = None,
    authfile: AuthFile = None,
) -> None:
    """Show an image's manifest: a summary, skopeo's fields (-o json), the raw
    bytes, or its config."""
    ref = parse_store_image(image)
    wanted = parse_platforms([platform] if platform else [])
    overrides = (override_os, override_arch, override_variant)
    as_json = output is OutputFormat.json
    if (as_json and (raw or config)) or (not as_json and (with_tags or any(overrides))):
        raise typer.BadParameter(
            "--tags and --override-* go with -o json; --raw and --config without it",
            param_hint="-o",
        )

    async def show(store: ImageStore) -> None:
        if as_json:
            _dump(await _inspect_json(store, ref, wanted, overrides, with_tags))
        elif raw and not config and not wanted:
            # any media type: only `copy` refuses what it cannot copy
            data, _ = await store.get_manifest_bytes(ref.reference)
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            await _show_text(store, ref, wanted, raw=raw, config=config)

    settings = _settings(ref, tls_verify, ca_file, plain_http, creds, cert_dir)
    _run_on_store(ref, settings, authfile, show)


async def _inspect_json(
    store: ImageStore,
    ref: StoreReference,
    wanted: list[Platform],
    overrides: tuple[str | None, str | None, str | None],
    with_tags: bool,
) -> dict[str, Any]:
    from hangard.core.inspection import wanted_platform
    from hangard.inspecting import host_platform, inspect_json

    target = wanted[0] if wanted else wanted_platform(host_platform(), *overrides)
    explicit = bool(wanted) or any(overrides)
    return await inspect_json(store, ref, target, explicit=explicit, with_tags=with_tags)


async def _show_text(
    store: ImageStore, ref: StoreReference, wanted: list[Platform], *, raw: bool, config: bool
) -> None:
    manifest, name = await _pick(store, ref, wanted, need_image=config)
    if config:
        await _print_config(store, ref, manifest, raw=raw)
    elif raw:
        sys.stdout.buffer.write(manifest.raw)
        sys.stdout.buffer.flush()
    else:
        from hangard.render import render_manifest

        typer.echo(render_manifest(name, manifest))


async def _pick(
    store: ImageStore, ref: StoreReference, wanted: list[Platform], *, need_image: bool
) -> tuple[Manifest, str]:
    """The manifest to show, and its name: on an index, ``--platform`` (or
    ``--config``, which needs one image) picks a child."""
    manifest = await store.get_manifest(ref.reference)
    if not manifest.is_index or not (wanted or need_image):
        return manifest, str(ref)
    matches = [
        d
        for d in manifest.children
        if d.platform
        and not d.platform.is_unknown
        and (not wanted or any(w.matches(d.platform) for w in wanted))
    ]
    if not matches:
        raise InputError(f"{ref} is an index with no entry for the platform")
    child = await store.get_manifest(matches[0].digest)
    return child, f"{ref} ({matches[0].platform})"


async def _print_config(
    store: ImageStore, ref: StoreReference, manifest: Manifest, *, raw: bool
) -> None:
    if manifest.config is None:
        raise InputError(f"{ref} ({manifest.media_type}) has no config blob")
    data = await store.get_blob(manifest.config.digest)
    if raw:
        sys.stdout.buffer.write(data)
    else:
        typer.echo(json.dumps(json.loads(data), indent=2))


def _rules(
    include: list[str] | None, exclude: list[str] | None, semver: str | None, latest: int | None
) -> Rules | None:
    """The config's :class:`~hangard.core.desired.TagRules`, checked as
    the config checks them; ``None``: no rule, every tag."""
    if not (include or exclude or semver or latest is not None):
        return None
    from pydantic import ValidationError

    from hangard.core.desired import TagRules

    try:
        return TagRules(include=include or [], exclude=exclude or [], semver=semver, latest=latest)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(problems) from None


@app.command()
def tags(
    repository: Annotated[
        str,
        typer.Argument(
            metavar="REPO",
            help="docker://HOST/REPO, oci:DIR or hangar-archive:FILE.zip[:IMAGE]",
        ),
    ],
    include: Annotated[
        list[str] | None,
        typer.Option(metavar="REGEX", help="keep tags fully matching one of these; repeatable"),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(metavar="REGEX", help="drop tags fully matching any of these; repeatable"),
    ] = None,
    semver: Annotated[
        str | None, typer.Option(metavar="RANGE", help="keep versions in this npm range, ^1.2")
    ] = None,
    latest: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="keep the N highest versions (pre-releases count unless "
            "--semver or --exclude drops them)",
        ),
    ] = None,
    output: Output = OutputFormat.text,
    tls_verify: TlsVerify = "true",
    ca_file: CaFile = None,
    cert_dir: CertDir = None,
    plain_http: PlainHttp = False,
    creds: Creds = None,
    authfile: AuthFile = None,
) -> None:
    """List a repository's tags, filtered by the config's tag rules."""
    ref = parse_store_image(repository)
    rules = _rules(include, exclude, semver, latest)

    async def show(store: ImageStore) -> None:
        from hangard.core.tags import selected_tags
        from hangard.inspecting import store_name

        chosen = selected_tags(await store.list_tags(), rules)
        if output is OutputFormat.json:
            _dump({"Repository": store_name(ref), "Tags": chosen})
        else:
            for tag in chosen:
                typer.echo(tag)

    settings = _settings(ref, tls_verify, ca_file, plain_http, creds, cert_dir)
    _run_on_store(ref, settings, authfile, show)
