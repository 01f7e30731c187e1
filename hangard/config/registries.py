"""From a loaded desired state to what the registry client needs: per-host
options, credentials, and Docker Hub rate-limit floors.

Hosts are canonical (``index.docker.io`` → ``docker.io``), as
:func:`hangard.core.reference.parse_reference` spells them.

Credentials per ``registries.HOST.credentials``:

* ``username`` + ``password_env``: the variable is read now, once;
* ``username`` + ``password_file``: the file is read now; one trailing
  newline (``\\n`` or ``\\r\\n``) is dropped;
* ``docker_config: true``, or no ``credentials``: the usual search of the
  Docker/Podman auth files and credential helpers
  (:class:`~hangard.registry.credentials.CredentialStore`).

A missing variable or unreadable file raises
:class:`~hangard.errors.ConfigError` naming the variable or file and the
registry, never the secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from hangard import __version__
from hangard.config.loader import LoadedConfig
from hangard.core.concurrency import CONCURRENCY
from hangard.core.desired import ImageEntry, registry_host
from hangard.core.reference import parse_reference
from hangard.errors import ConfigError
from hangard.registry.credentials import Credentials, CredentialStore
from hangard.registry.options import ClientOptions, HarborOptions, RegistryOptions

__all__ = ["client_options", "credential_store", "ratelimit_floors", "registry_hosts"]


def registry_hosts(loaded: LoadedConfig) -> list[str]:
    """Every host the state names: ``registries`` keys, target registries and
    image sources (sorted, canonical)."""
    state = loaded.state
    hosts = {registry_host(h) for h in state.registries}
    hosts |= {t.registry for t in state.targets.values() if t.registry is not None}
    for entry in state.images:
        if isinstance(entry, ImageEntry):
            hosts.add(entry.repository.registry)
        else:
            hosts |= {parse_reference(line.source).registry for line in entry.lines}
    return sorted(hosts)


def client_options(
    loaded: LoadedConfig,
    *,
    global_concurrency: int = CONCURRENCY,
    user_agent: str = f"hangard/{__version__}",
) -> ClientOptions:
    """Per-registry :class:`RegistryOptions` from ``registries:``; target
    registries without settings get the defaults. A registry's
    ``max_concurrency`` is capped at ``global_concurrency``."""
    cap = max(1, global_concurrency)
    default = RegistryOptions(max_concurrency=min(RegistryOptions().max_concurrency, cap))
    registries: dict[str, RegistryOptions] = {}
    for host, settings in loaded.state.registries.items():
        registries[registry_host(host)] = RegistryOptions(
            tls_verify=settings.tls_verify,
            ca_file=settings.ca_file,
            cert_dir=settings.cert_dir,
            client_cert=settings.client_cert,
            client_key=settings.client_key,
            http=settings.http,
            max_concurrency=min(settings.max_concurrency, cap),
            requests_per_second=settings.requests_per_second,
            ratelimit_floor=settings.ratelimit_floor,
            timeout=settings.timeout,
            retry_times=settings.retry_times,
            retry_delay=settings.retry_delay,
            harbor=HarborOptions(settings.harbor.create_projects, settings.harbor.public),
        )
    for target in loaded.state.targets.values():
        if target.registry is not None:
            registries.setdefault(target.registry, default)
    return ClientOptions(registries=registries, default=default, user_agent=user_agent)


def credential_store(
    loaded: LoadedConfig,
    *,
    environ: Mapping[str, str] | None = None,
    authfile: str | os.PathLike[str] | None = None,
) -> CredentialStore:
    """A store holding the file-configured credentials as overrides; other
    hosts fall back to the auth-file search (``authfile`` replaces it).

    ``environ`` (default ``os.environ``) is where ``password_env`` variables
    are read and where the auth files are located.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    overrides: dict[str, Credentials] = {}
    problems: list[str] = []
    for host, settings in loaded.state.registries.items():
        creds = settings.credentials
        if creds is None or creds.docker_config or not creds.username:
            continue
        try:
            password = _password(host, creds.password_env, creds.password_file, env)
        except ConfigError as exc:
            problems.append(exc.message)
            continue
        if password is not None:
            overrides[registry_host(host)] = Credentials(username=creds.username, password=password)
    if problems:
        raise ConfigError(
            f"{loaded.path}: credentials unavailable for "
            f"{len(problems)} registr{'y' if len(problems) == 1 else 'ies'}",
            problems=problems,
        )
    return CredentialStore(overrides=overrides, authfile=authfile, environ=environ)


def _password(
    host: str, variable: str | None, file: str | None, env: Mapping[str, str]
) -> str | None:
    if variable is not None:
        if variable not in env:
            raise ConfigError(f"registry {host}: environment variable {variable} is not set")
        if not env[variable]:
            raise ConfigError(f"registry {host}: environment variable {variable} is empty")
        return env[variable]
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"registry {host}: cannot read password_file {file}: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(f"registry {host}: password_file {file} is not UTF-8 text") from None
        password = text.removesuffix("\n").removesuffix("\r")
        if not password:
            raise ConfigError(f"registry {host}: password_file {file} is empty")
        return password
    return None


def ratelimit_floors(loaded: LoadedConfig) -> dict[str, int]:
    """``ratelimit_floor`` by canonical host, for hosts that set one."""
    return {
        registry_host(host): settings.ratelimit_floor
        for host, settings in loaded.state.registries.items()
        if settings.ratelimit_floor is not None
    }
